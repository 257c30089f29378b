//! invoke-endpoint's own cost per request, without the model: p50 / p99 over
//! many requests, and requests per second on one core (a current-thread
//! runtime, one request at a time). The model is a fixed in-process reply, so
//! what is measured is event parsing, validation, the SDK call's own work
//! (signing, serialization, deserialization) and shaping the answer.
//! Prints one JSON object; `make bench` reads it.
//!   cargo bench -p invoke-endpoint --bench overhead [-- REQUESTS]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

#[path = "support.rs"]
mod support;

use std::time::Instant;

fn main() {
    // `cargo bench` passes `--bench`; the only argument of ours is a count.
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = support::state();
    runtime.block_on(async {
        for _ in 0..1_000 {
            assert_eq!(
                support::one(&state).await,
                200,
                "the stubbed model must answer 200"
            );
        }
        let mut micros = Vec::with_capacity(requests);
        let all = Instant::now();
        for _ in 0..requests {
            let start = Instant::now();
            let status = support::one(&state).await;
            micros.push(start.elapsed().as_secs_f64() * 1e6);
            assert_eq!(status, 200);
        }
        let seconds = all.elapsed().as_secs_f64();
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
        println!(
            "{}",
            serde_json::json!({
                "requests": requests,
                "p50Us": at(0.50),
                "p99Us": at(0.99),
                "maxUs": at(1.0),
                "requestsPerSecondOneCore": requests as f64 / seconds,
            })
        );
    });
}
