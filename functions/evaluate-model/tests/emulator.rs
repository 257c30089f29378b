//! evaluate-model's real binary, under cargo-lambda's runtime, as an IAM user
//! holding only its template policy, against moto's S3: a held-out output
//! many times larger than the function's memory setting is evaluated in
//! bounded memory, and the report lands beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde_json::{Value, json};
use testkit::{LambdaRuntime, Moto, unique};

/// The template's memory setting for the function, in MiB.
fn memory_setting_mib() -> u64 {
    let template = testkit::template::Template::load().unwrap();
    let function = template.resource("EvaluateModelFunction").unwrap();
    function["Properties"]["MemorySize"].as_u64().unwrap()
}

/// One output row: the held-out row (label first) with the prediction last;
/// one row in ten is predicted setosa, which is wrong unless it is one.
fn row(i: usize) -> String {
    let label = ["setosa", "versicolor", "virginica"][i % 3];
    let prediction = if i % 10 == 9 { "setosa" } else { label };
    format!("{label},5.1,3.5,1.4,0.2,{prediction}\n")
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_output_many_times_its_memory_is_evaluated_in_bounded_memory() {
    let memory = memory_setting_mib();
    let sdk = Moto::from_env().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = unique("artifacts");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    // Four times the memory setting, uploaded in parts of about 12 MiB.
    let rows_per_part = 400_000;
    let key = "transform/run-big/held-out.csv.out";
    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let target = memory * 4 * 1024 * 1024;
    let (mut written, mut rows, mut parts) = (0u64, 0usize, Vec::new());
    while written < target {
        let part: String = (rows..rows + rows_per_part).map(row).collect();
        rows += rows_per_part;
        written += part.len() as u64;
        let number = i32::try_from(parts.len() + 1).unwrap();
        let sent = s3
            .upload_part()
            .bucket(&bucket)
            .key(key)
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(part.into_bytes()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let mut runtime = LambdaRuntime::start();
    let function = runtime.function(env!("CARGO_BIN_EXE_evaluate-model"), &[]);
    let answer = runtime
        .invoke(
            &function,
            &json!({
                "executionName": "run-big",
                "transformOutputUri": format!("s3://{bucket}/transform/run-big/"),
                "problemType": "classification",
                "gateMetric": "accuracy"
            }),
        )
        .output();
    let peak_mib = function.peak_rss_kib().unwrap() / 1024;
    println!(
        "evaluate-model: {rows} rows, {} MiB of output, peak RSS {peak_mib} MiB, memory setting {memory} MiB",
        written / (1024 * 1024)
    );
    assert!(written >= 4 * memory * 1024 * 1024);
    assert_eq!(answer["rows"].as_u64().unwrap(), rows as u64);
    let wrong = (0..rows).filter(|i| i % 10 == 9 && i % 3 != 0).count();
    let accuracy = answer["gateValue"].as_f64().unwrap();
    assert!(
        (accuracy - (1.0 - wrong as f64 / rows as f64)).abs() < 1e-9,
        "{answer}"
    );
    assert!(
        peak_mib * 4 < memory,
        "peak RSS {peak_mib} MiB is not bounded well under the {memory} MiB setting"
    );
    let report = s3
        .get_object()
        .bucket(&bucket)
        .key("transform/run-big/model-quality.json")
        .send()
        .await
        .unwrap();
    let report: Value =
        serde_json::from_slice(&report.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(
        report["dataset"]["item_count"].as_u64().unwrap(),
        rows as u64
    );
    let matrix = &report["multiclass_classification_metrics"]["confusion_matrix"];
    let mistaken = |label: &str| matrix[label]["setosa"].as_u64().unwrap();
    assert_eq!(mistaken("versicolor") + mistaken("virginica"), wrong as u64);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_row_that_is_not_label_first_prediction_last_is_a_named_error() {
    let sdk = Moto::from_env().sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = unique("artifacts");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("transform/run-bad/held-out.csv.out")
        .body(ByteStream::from_static(
            b"setosa,5.1,3.5,1.4,0.2,setosa\nsetosa\n",
        ))
        .send()
        .await
        .unwrap();
    let mut runtime = LambdaRuntime::start();
    let function = runtime.function(env!("CARGO_BIN_EXE_evaluate-model"), &[]);
    let answer = runtime.invoke(
        &function,
        &json!({
            "executionName": "run-bad",
            "transformOutputUri": format!("s3://{bucket}/transform/run-bad/"),
            "problemType": "classification",
            "gateMetric": "accuracy"
        }),
    );
    match answer {
        testkit::Invocation::Err {
            error_type,
            message,
        } => {
            assert_eq!(error_type, "InvalidInput");
            assert!(message.contains("held-out.csv.out line 2"), "{message}");
        }
        testkit::Invocation::Ok(v) => panic!("a bad row was evaluated: {v}"),
    }
}
