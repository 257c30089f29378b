//! A Lambda Runtime API of our own, for `make bench`.
//!
//! cargo lambda's emulator stalls an invocation now and then for ~40 ms (a
//! delayed-ACK pattern on its loopback connection), which made every warm p99
//! the harness's. This one sets `TCP_NODELAY` on every connection and answers
//! in one write, and it times each invocation itself: from the moment it hands
//! the event to the function's `next` call to the moment the function's
//! response arrives. So the figure is the function's, not the bench driver's.
//!
//! - The function side is the Runtime API (`/2018-06-01/runtime/...`): `next`,
//!   `response`, `error` and `init/error`, with the headers lambda_runtime and
//!   awslambdaric read.
//! - The driver side is `POST /invoke` with the event as the body. The answer
//!   is the function's body, with `x-outcome` (`response`, `error` or
//!   `init-error`) and `x-function-us` (microseconds, event handed → response
//!   received) and `x-answered-at-ns` (CLOCK_MONOTONIC when it arrived, for
//!   the bench's spawn → answer clock). A function that answers nothing in 120 s gets a 504.
//!
//! `runtime-api` binds 127.0.0.1 on a free port and prints `port=N` on its
//! first line. It serves until it is stopped (by PID, by the bench).
//! `runtime-api launch` is the bench's process launcher instead ([`launcher`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::sync::{Mutex, mpsc, oneshot};

mod launcher;

const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench";

/// What the function made of one invocation.
#[derive(Debug)]
struct Outcome {
    kind: &'static str,
    body: Bytes,
    micros: u128,
    /// CLOCK_MONOTONIC when the function's answer arrived, in nanoseconds.
    at_ns: i128,
}

fn monotonic_ns() -> i128 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
}

#[derive(Debug)]
struct Invocation {
    event: Bytes,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
struct Api {
    queue: mpsc::UnboundedSender<Invocation>,
    waiting: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Handed to the function, not yet answered: request id → (reply, when handed).
    in_flight: std::sync::Mutex<HashMap<String, (oneshot::Sender<Outcome>, Instant)>>,
    next_id: AtomicU64,
}

type Shared = Arc<Api>;

fn header(name: &'static str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).ok()?,
    ))
}

/// `GET /2018-06-01/runtime/invocation/next`: waits for the next event.
async fn next(State(api): State<Shared>) -> Response {
    let invocation = api.waiting.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    let id = format!("bench-{:08}", api.next_id.fetch_add(1, Ordering::Relaxed));
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + INVOKE_TIMEOUT.as_millis();
    let headers = [
        header("lambda-runtime-aws-request-id", &id),
        header("lambda-runtime-deadline-ms", &deadline.to_string()),
        header("lambda-runtime-invoked-function-arn", FUNCTION_ARN),
        header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        ),
        header("content-type", "application/json"),
    ];
    let mut response = invocation.event.into_response();
    response.headers_mut().extend(headers.into_iter().flatten());
    if let Ok(mut in_flight) = api.in_flight.lock() {
        in_flight.insert(id, (invocation.reply, Instant::now()));
    }
    response
}

fn finish(api: &Api, id: &str, kind: &'static str, body: Bytes) -> Response {
    let entry = api.in_flight.lock().ok().and_then(|mut m| m.remove(id));
    match entry {
        Some((reply, handed)) => {
            let (micros, at_ns) = (handed.elapsed().as_micros(), monotonic_ns());
            // The driver may have given up (timeout); nothing to do then.
            let _ = reply.send(Outcome {
                kind,
                body,
                micros,
                at_ns,
            });
            (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            "{\"errorMessage\":\"unknown request id\"}",
        )
            .into_response(),
    }
}

async fn respond(State(api): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    finish(&api, &id, "response", body)
}

async fn error(State(api): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    finish(&api, &id, "error", body)
}

/// `POST /2018-06-01/runtime/init/error`: the function could not start; every
/// queued invocation is answered with its error.
async fn init_error(State(api): State<Shared>, body: Bytes) -> Response {
    let mut waiting = api.waiting.lock().await;
    while let Ok(invocation) = waiting.try_recv() {
        let _ = invocation.reply.send(Outcome {
            kind: "init-error",
            body: body.clone(),
            micros: 0,
            at_ns: monotonic_ns(),
        });
    }
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

/// `POST /invoke`: the driver's side; answers with the function's body.
async fn invoke(State(api): State<Shared>, event: Bytes) -> Response {
    let (reply, outcome) = oneshot::channel();
    if api.queue.send(Invocation { event, reply }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match tokio::time::timeout(INVOKE_TIMEOUT, outcome).await {
        Ok(Ok(outcome)) => {
            let mut response = outcome.body.into_response();
            response.headers_mut().extend(
                [
                    header("x-outcome", outcome.kind),
                    header("x-function-us", &outcome.micros.to_string()),
                    header("x-answered-at-ns", &outcome.at_ns.to_string()),
                ]
                .into_iter()
                .flatten(),
            );
            response
        }
        _ => (StatusCode::GATEWAY_TIMEOUT, "the function did not answer").into_response(),
    }
}

fn main() -> std::io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("launch") {
        return launcher::run();
    }
    serve()
}

#[tokio::main(flavor = "current_thread")]
async fn serve() -> std::io::Result<()> {
    let (queue, waiting) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        queue,
        waiting: Mutex::new(waiting),
        in_flight: std::sync::Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .route("/invoke", post(invoke))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("port={}", listener.local_addr()?.port());
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
