//! What the mlops tests share: record-metadata writing a trail into a fresh
//! table in moto, as the deployed function does.

use testkit::{Inbox, Moto};

/// A fresh table and record-metadata's handler state writing to it.
pub async fn recorder() -> (String, record_metadata::State) {
    let sdk = Moto::from_env().sdk_config().await;
    let table = testkit::create_table(&sdk).await.unwrap();
    let inbox = Inbox::create(&sdk).await.unwrap();
    let state = record_metadata::State::new(
        record_metadata::Config {
            table_name: table.clone(),
            topic_arn: inbox.topic_arn.clone(),
            name_token: shared::naming::StackToken::parse(testkit::TEST_TOKEN).unwrap(),
        },
        &sdk,
    );
    (table, state)
}
