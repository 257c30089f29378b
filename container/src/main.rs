//! iris-model: the sample model container, honouring SageMaker's
//! bring-your-own-container contract.
//!
//! - `iris-model train`: reads `<base>/input/data/training/*.csv` (label first,
//!   then four features) and `<base>/input/config/hyperparameters.json`
//!   (`max_depth`, default 5), trains a decision tree on four rows in five,
//!   prints `validation:accuracy=<value>` (the training job's metric definition
//!   captures it), writes `<base>/model/model.json`; on failure writes the
//!   reason to `<base>/output/failure` and exits 1.
//! - `iris-model serve`: loads the model and listens on `SERVE_ADDRESS`
//!   (default `0.0.0.0:8080`, as SageMaker requires inside the container; use
//!   `127.0.0.1:<port>` on a workstation): `GET /ping`, `POST /invocations`
//!   (`text/csv`, one row of four numbers per line → one label per line; a bad
//!   row is a 400 with a message); also as `POST /endpoints/<name>/invocations`,
//!   SageMaker Runtime's path, for the local run.
//!   SIGTERM or SIGINT stops it after the requests in flight are answered.
//! - `SM_BASE_DIR` overrides `<base>` (default `/opt/ml`), so both run without Docker.

mod model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

fn base() -> PathBuf {
    std::env::var_os("SM_BASE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ml"))
}

fn read_hyperparameters(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(BTreeMap::new());
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let object = value
        .as_object()
        .ok_or_else(|| format!("{}: not a JSON object", path.display()))?;
    // SageMaker passes every value as a string; accept numbers too.
    Ok(object
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect())
}

fn train(base: &Path) -> Result<f64, String> {
    let hyperparameters = read_hyperparameters(&base.join("input/config/hyperparameters.json"))?;
    let max_depth = model::max_depth(&hyperparameters)?;
    let dir = base.join("input/data/training");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no .csv files in {}", dir.display()));
    }
    let mut rows = model::Rows::default();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        model::parse_training(&text, &mut rows).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let trained = model::train(&rows, max_depth)?;
    let out = base.join("model");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let json = serde_json::to_vec(&trained).map_err(|e| e.to_string())?;
    std::fs::write(out.join("model.json"), json).map_err(|e| format!("writing the model: {e}"))?;
    Ok(trained.validation_accuracy)
}

async fn ping() -> StatusCode {
    StatusCode::OK
}

async fn invocations(
    State(model): State<Arc<model::Model>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let csv_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        });
    if !csv_type {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: text/csv\n".to_owned(),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text\n".to_owned(),
        );
    };
    match model.predict_csv(text) {
        Ok(labels) => (StatusCode::OK, labels.join("\n") + "\n"),
        Err(message) => (StatusCode::BAD_REQUEST, message + "\n"),
    }
}

/// SIGTERM (what `docker stop` and SageMaker send, 30 s before SIGKILL) or
/// SIGINT (Ctrl-C on a workstation). In a container the server is PID 1, for
/// which the kernel ignores a signal that has no handler: without this one,
/// `docker stop` would wait out its grace period and kill it.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            eprintln!("serve: cannot watch SIGTERM ({e}); stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    println!("serve: stopping");
}

async fn serve(base: &Path) -> Result<(), String> {
    let path = base.join("model/model.json");
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: {e} (run `train` first)", path.display()))?;
    let model: model::Model =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let address = std::env::var("SERVE_ADDRESS").unwrap_or_else(|_| "0.0.0.0:8080".into());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    println!("serving {} labels on {address}", model.labels.len());
    let app = Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        // SageMaker Runtime's own path: the local run points the SDK's
        // endpoint override here, so invoke-endpoint reaches this server as
        // it would reach the endpoint.
        .route("/endpoints/{name}/invocations", post(invocations))
        .with_state(Arc::new(model));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let base = base();
    match std::env::args().nth(1).as_deref() {
        Some("train") => match train(&base) {
            Ok(accuracy) => {
                println!("validation:accuracy={accuracy:.4}");
                ExitCode::SUCCESS
            }
            Err(reason) => {
                eprintln!("training failed: {reason}");
                let output = base.join("output");
                let _ = std::fs::create_dir_all(&output);
                let _ = std::fs::write(output.join("failure"), &reason);
                ExitCode::FAILURE
            }
        },
        Some("serve") => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("serve: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(&base)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("serve: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!(
                "usage: iris-model train | serve   (base directory: $SM_BASE_DIR, default /opt/ml)"
            );
            ExitCode::from(2)
        }
    }
}
