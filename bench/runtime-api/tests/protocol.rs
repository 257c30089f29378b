//! The bench's Runtime API and launcher, driven as the bench and a function drive them.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where its set-up does"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_runtime-api");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server() -> Server {
    let mut child = Command::new(BIN)
        .stdout(Stdio::piped())
        .spawn()
        .expect("runtime-api starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a first line");
    let port = line
        .trim()
        .strip_prefix("port=")
        .expect("port=N")
        .to_owned();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

#[test]
fn an_invocation_goes_to_the_function_and_its_answer_back_timed() {
    let server = server();
    let base = server.base.clone();
    let driver = std::thread::spawn(move || {
        let mut response = agent()
            .post(&format!("{base}/invoke"))
            .send("{\"n\":1}")
            .expect("invoke");
        let outcome = response
            .headers()
            .get("x-outcome")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let micros: u64 = response.headers()["x-function-us"]
            .to_str()
            .unwrap_or("")
            .parse()
            .expect("micros");
        let at: i128 = response.headers()["x-answered-at-ns"]
            .to_str()
            .unwrap_or("")
            .parse()
            .expect("ns");
        (
            response.status().as_u16(),
            outcome,
            micros,
            at,
            response.body_mut().read_to_string().expect("body"),
        )
    });

    let agent = agent();
    let mut next = agent
        .get(&format!(
            "{}/2018-06-01/runtime/invocation/next",
            server.base
        ))
        .call()
        .expect("next");
    assert_eq!(next.status().as_u16(), 200);
    let id = next.headers()["lambda-runtime-aws-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let deadline: u128 = next.headers()["lambda-runtime-deadline-ms"]
        .to_str()
        .expect("deadline")
        .parse()
        .expect("ms");
    assert!(
        deadline > 1_700_000_000_000,
        "an epoch deadline in ms, got {deadline}"
    );
    assert!(
        next.headers()
            .contains_key("lambda-runtime-invoked-function-arn")
    );
    assert_eq!(
        next.body_mut().read_to_string().expect("event"),
        "{\"n\":1}"
    );
    std::thread::sleep(Duration::from_millis(20));
    let done = agent
        .post(&format!(
            "{}/2018-06-01/runtime/invocation/{id}/response",
            server.base
        ))
        .send("{\"ok\":true}")
        .expect("response");
    assert_eq!(done.status().as_u16(), 202);

    let (status, outcome, micros, at, body) = driver.join().expect("driver");
    assert_eq!(
        (status, outcome.as_deref(), body.as_str()),
        (200, Some("response"), "{\"ok\":true}")
    );
    assert!(
        micros >= 20_000,
        "the function held the event 20 ms, timed {micros} µs"
    );
    assert!(at > 0);

    // An answer for an id never handed out is refused, and nothing waits on it.
    let stray = agent
        .post(&format!(
            "{}/2018-06-01/runtime/invocation/nope/response",
            server.base
        ))
        .send("{}")
        .expect("stray");
    assert_eq!(stray.status().as_u16(), 400);
}

#[test]
fn an_error_reaches_the_driver_as_an_error() {
    let server = server();
    let base = server.base.clone();
    let driver = std::thread::spawn(move || {
        let response = agent()
            .post(&format!("{base}/invoke"))
            .send("{}")
            .expect("invoke");
        response.headers()["x-outcome"]
            .to_str()
            .unwrap_or("")
            .to_owned()
    });
    let agent = agent();
    let next = agent
        .get(&format!(
            "{}/2018-06-01/runtime/invocation/next",
            server.base
        ))
        .call()
        .expect("next");
    let id = next.headers()["lambda-runtime-aws-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    agent
        .post(&format!(
            "{}/2018-06-01/runtime/invocation/{id}/error",
            server.base
        ))
        .send("{\"errorType\":\"InvalidInput\"}")
        .expect("error");
    assert_eq!(driver.join().expect("driver"), "error");
}

#[test]
fn the_launcher_starts_stops_and_refuses_what_it_cannot_read() {
    let mut launcher = Command::new(BIN)
        .arg("launch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("launcher starts");
    let mut input = launcher.stdin.take().expect("stdin");
    let mut output = BufReader::new(launcher.stdout.take().expect("stdout"));
    let mut ask = |line: &str| {
        writeln!(input, "{line}").expect("write");
        let mut answer = String::new();
        output.read_line(&mut answer).expect("read");
        serde_json::from_str::<serde_json::Value>(&answer).expect("JSON")
    };

    let started = ask(r#"{"spawn": ["/bin/sleep", "30"], "env": {"A": "b"}}"#);
    let pid = started["pid"].as_u64().expect("a pid");
    let stamp: i128 = started["stampNs"]
        .as_str()
        .expect("stamp")
        .parse()
        .expect("ns");
    assert!(stamp > 0);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child runs"
    );
    assert_eq!(
        ask(&format!(r#"{{"stop": {pid}}}"#))["stopped"].as_u64(),
        Some(pid)
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child is gone and reaped"
    );

    assert!(
        ask(r#"{"stop": 1}"#)["error"]
            .as_str()
            .expect("error")
            .contains("no child")
    );
    assert!(
        ask(r#"{"spawn": []}"#)["error"]
            .as_str()
            .expect("error")
            .contains("program")
    );
    assert!(
        ask(r#"{"spwan": ["x"]}"#)["error"]
            .as_str()
            .expect("error")
            .contains("not a request")
    );
    assert!(
        ask(r#"{"spawn": ["/no/such/binary"]}"#)["error"]
            .as_str()
            .expect("error")
            .contains("cannot start")
    );
    drop(input);
    assert!(launcher.wait().expect("exit").success());
}
