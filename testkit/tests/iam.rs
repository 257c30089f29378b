//! moto enforces each function's policy from template.yaml: a call the
//! template grants goes through, one it does not is AccessDenied.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// The SDK as the function's binary builds it, with the function's own keys.
async fn as_function(binary: &str) -> aws_config::SdkConfig {
    let (key, secret) = testkit::iam::function_credentials(binary).unwrap();
    testkit::Moto::from_env()
        .sdk_config()
        .await
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            key, secret, None, None, "function",
        )))
        .build()
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_function_may_make_the_calls_its_policy_grants_and_no_others() {
    assert_eq!(
        std::env::var("MOTO_IAM_ENFORCED").as_deref(),
        Ok("1"),
        "scripts/with-moto turns IAM enforcement on"
    );
    let admin = testkit::Moto::from_env().sdk_config().await;
    let table = testkit::create_table(&admin).await.unwrap();

    // record-metadata may read and write the table ...
    let record = as_function("record-metadata").await;
    let ddb = aws_sdk_dynamodb::Client::new(&record);
    get_summary(&ddb, &table)
        .await
        .expect("GetItem is granted to record-metadata");
    // ... but not delete the table, which no statement grants.
    let err = ddb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("AccessDenied"), "{err:?}");

    // Each function reaches only its own item kinds (dynamodb:LeadingKeys,
    // which the test stack enforces as AWS does): the internet-facing
    // handle-approval may read an approval, but not a run's summary, nor
    // write one, not even inside a transaction.
    let handle = as_function("handle-approval").await;
    let ddb = aws_sdk_dynamodb::Client::new(&handle);
    let err = get_summary(&ddb, &table).await.unwrap_err();
    assert!(format!("{err:?}").contains("AccessDenied"), "{err:?}");
    use aws_sdk_dynamodb::types::AttributeValue::S;
    ddb.get_item()
        .table_name(&table)
        .key("pk", S("APPROVAL#x".into()))
        .key("sk", S("APPROVAL".into()))
        .send()
        .await
        .expect("handle-approval reads approvals");
    let err = ddb
        .update_item()
        .table_name(&table)
        .key("pk", S("RUN#x".into()))
        .key("sk", S("SUMMARY".into()))
        .update_expression("SET stage = :s")
        .expression_attribute_values(":s", S("deployed".into()))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("AccessDenied"), "{err:?}");
    let update = |pk: &str| {
        aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(
                aws_sdk_dynamodb::types::Update::builder()
                    .table_name(&table)
                    .key("pk", S(pk.into()))
                    .key("sk", S("APPROVAL".into()))
                    .update_expression("SET x = :x")
                    .expression_attribute_values(":x", S("1".into()))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let err = ddb
        .transact_write_items()
        .transact_items(update("APPROVAL#x"))
        .transact_items(update("TRIGGER#b/k#v"))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("AccessDenied"), "{err:?}");

    // check-endpoint may describe the endpoint, but not touch the table.
    let check = as_function("check-endpoint").await;
    let err = get_summary(&aws_sdk_dynamodb::Client::new(&check), &table)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("AccessDenied"), "{err:?}");
}

/// GetItem of one run's summary row, as the given identity.
async fn get_summary(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<
    aws_sdk_dynamodb::operation::get_item::GetItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>,
> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    ddb.get_item()
        .table_name(table)
        .key("pk", S("RUN#x".into()))
        .key("sk", S("SUMMARY".into()))
        .send()
        .await
}
