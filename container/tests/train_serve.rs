//! The container's contract, on its real binary, without Docker: SageMaker's
//! directory layout under `SM_BASE_DIR`, `train`, then `serve` on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_iris-model");

fn base(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iris-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("input/data/training")).unwrap();
    std::fs::create_dir_all(dir.join("input/config")).unwrap();
    dir
}

fn train(dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg("train")
        .env("SM_BASE_DIR", dir)
        .output()
        .unwrap()
}

/// `iris-model serve` on 127.0.0.1:<free port>, stopped by PID when dropped.
struct Server {
    child: std::process::Child,
    url: String,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .arg("serve")
            .env("SM_BASE_DIR", dir)
            .env("SERVE_ADDRESS", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        };
        let started = Instant::now();
        while server.ping() != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "serve did not answer /ping"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn ping(&self) -> u16 {
        self.agent
            .get(format!("{}/ping", self.url))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    fn invoke(&self, content_type: &str, body: &str) -> (u16, String) {
        self.invoke_at("/invocations", content_type, body)
    }

    fn invoke_at(&self, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn trains_prints_its_metric_and_serves_predictions() {
    let dir = base("ok");
    std::fs::copy(
        data_file("iris-train.csv"),
        dir.join("input/data/training/iris.csv"),
    )
    .unwrap();
    std::fs::write(
        dir.join("input/config/hyperparameters.json"),
        r#"{"max_depth": "4"}"#,
    )
    .unwrap();
    let out = train(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The training job's metric definition: validation:accuracy=([0-9.]+)
    let accuracy: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("validation:accuracy="))
        .expect("the metric line")
        .parse()
        .unwrap();
    assert!(accuracy >= 0.9, "{accuracy}");
    assert!(dir.join("model/model.json").exists());

    let server = Server::start(&dir);
    let answer = server.invoke(
        "text/csv",
        "5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n6.4,3.2,4.5,1.5\n",
    );
    // SageMaker Runtime's path, which the local run sends invoke-endpoint to.
    let via_runtime_path = server.invoke_at(
        "/endpoints/iris-model/invocations",
        "text/csv",
        "4.5,1.3,0.3,0.3",
    );
    drop(server);
    assert_eq!(via_runtime_path, (200, "setosa\n".to_owned()));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(answer, (200, "setosa\nvirginica\nversicolor\n".to_owned()));
}

#[test]
fn bad_input_to_invocations_is_a_400_not_a_crash() {
    let dir = base("bad");
    std::fs::copy(
        data_file("iris-train.csv"),
        dir.join("input/data/training/iris.csv"),
    )
    .unwrap();
    assert!(train(&dir).status.success());
    let server = Server::start(&dir);
    let results: Vec<_> = [
        ("text/csv", "1,2,3\n"),
        ("text/csv", "1,x,3,4"),
        ("text/csv", ""),
        ("application/json", "{}"),
    ]
    .into_iter()
    .map(|(ct, body)| server.invoke(ct, body))
    .collect();
    let still_up = server.ping();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(results[0].0, 400);
    assert!(results[0].1.contains("3 fields"), "{}", results[0].1);
    assert_eq!(results[1].0, 400);
    assert_eq!(results[2].0, 400);
    assert_eq!(results[3].0, 415);
    assert_eq!(still_up, 200, "the server survives bad input");
}

#[test]
fn a_training_failure_is_written_where_sagemaker_reads_it() {
    let dir = base("fail");
    std::fs::write(
        dir.join("input/data/training/bad.csv"),
        "setosa,1,2,three,4\n",
    )
    .unwrap();
    let out = train(&dir);
    assert!(!out.status.success());
    let failure = std::fs::read_to_string(dir.join("output/failure")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failure.contains("field 2") && failure.contains("bad.csv"),
        "{failure}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = base("term");
    std::fs::copy(
        data_file("iris-train.csv"),
        dir.join("input/data/training/iris.csv"),
    )
    .unwrap();
    assert!(train(&dir).status.success());
    let mut server = Server::start(&dir);
    // What `docker stop` and SageMaker send, 30 s before SIGKILL.
    let sent = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_dir_all(&dir);
    // Killed by the signal, a process has no exit code; stopped cleanly, it exits 0.
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A file of the project's data/, found at run time (a compile-time path goes
/// stale when a target directory is shared between checkouts).
fn data_file(file: &str) -> std::path::PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    std::path::Path::new(&dir).join("../data").join(file)
}
