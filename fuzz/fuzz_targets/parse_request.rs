//! Any body, any content type: the parser answers a prediction or a 4xx, never
//! a panic, and a prediction is always well-formed CSV for the endpoint.
#![no_main]

use invoke_endpoint::request::{Limits, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &[u8])| {
    let (json, body) = input;
    let content_type = if json { Some("application/json") } else { Some("text/plain") };
    match parse("POST", content_type, body, &Limits::default()) {
        Ok(p) => {
            assert_eq!(p.csv.lines().count(), p.rows);
            assert!(p.csv.split(['\n', ',']).all(|f| f.parse::<f64>().is_ok_and(f64::is_finite)));
        }
        Err(e) => assert!((400..500).contains(&e.status())),
    }
});
