//! Criterion micro-benchmarks of invoke-endpoint's pure hot code: request
//! parsing and response shaping, then the whole handler with the model
//! answered in process. `cargo bench -p invoke-endpoint --bench hot_path`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

#[path = "support.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use invoke_endpoint::request::{Limits, parse};
use invoke_endpoint::response::{ApiError, answer_body, error_response, ok_response};

const LIMITS: Limits = Limits {
    max_body_bytes: 256 * 1024,
    max_rows: 100,
    feature_count: Some(4),
};

fn parsing(c: &mut Criterion) {
    let one = br#"{"data": "4.5,1.3,0.3,0.3"}"#;
    let batch =
        serde_json::to_vec(&serde_json::json!({"data": vec!["5.1,3.5,1.4,0.2"; 100]})).unwrap();
    let bad = br#"{"data": "4.5,one,0.3,0.3"}"#;
    let mut group = c.benchmark_group("parse");
    group.bench_function("one row", |b| {
        b.iter(|| parse("POST", Some("application/json"), black_box(one), &LIMITS))
    });
    group.bench_function("100 rows", |b| {
        b.iter(|| parse("POST", Some("application/json"), black_box(&batch), &LIMITS))
    });
    group.bench_function("refused (422)", |b| {
        b.iter(|| parse("POST", Some("application/json"), black_box(bad), &LIMITS))
    });
    group.finish();
}

fn shaping(c: &mut Criterion) {
    let one = parse(
        "POST",
        Some("application/json"),
        br#"{"data": "4.5,1.3,0.3,0.3"}"#,
        &LIMITS,
    )
    .unwrap();
    let batch_body =
        serde_json::to_vec(&serde_json::json!({"data": vec!["5.1,3.5,1.4,0.2"; 100]})).unwrap();
    let batch = parse("POST", Some("application/json"), &batch_body, &LIMITS).unwrap();
    let answers = "setosa\n".repeat(100);
    let mut group = c.benchmark_group("shape");
    group.bench_function("one label → 200", |b| {
        b.iter(|| ok_response(answer_body(black_box(&one), b"setosa\n").unwrap(), "req-1"))
    });
    group.bench_function("100 labels → 200", |b| {
        b.iter(|| {
            ok_response(
                answer_body(black_box(&batch), answers.as_bytes()).unwrap(),
                "req-1",
            )
        })
    });
    let refused = ApiError::unprocessable("bad_value", "row 1, field 2 is not a number");
    group.bench_function("error → 422", |b| {
        b.iter(|| error_response(black_box(&refused), "req-1"))
    });
    group.finish();
}

fn handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = support::state();
    assert_eq!(runtime.block_on(support::one(&state)), 200);
    c.bench_function("handler (model stubbed)", |b| {
        b.to_async(&runtime).iter(|| support::one(&state))
    });
}

criterion_group!(benches, parsing, shaping, handler);
criterion_main!(benches);
