//! The floor for `make bench`: the smallest useful Lambda in Rust. It answers
//! every event with `{"hello": "world"}` and does nothing else: no SDK, no
//! logging set-up, no configuration. Every function's figures are read as a
//! ratio to this one, built in the same run with the same release profile.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"hello": "world"}))
    }))
    .await
}
