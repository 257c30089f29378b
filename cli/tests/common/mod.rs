//! What the mlops tests share: the stack's table and notification topic as
//! the template creates them (testkit's world), and record-metadata writing a
//! trail into them, as the deployed function does.

use std::process::Command;

use testkit::rig::World;

/// A world of its own in `region`, and record-metadata's handler state
/// writing to its table.
pub async fn recorder(region: &str) -> (World, record_metadata::State) {
    let world = World::create(region, &[]).await.unwrap();
    let state = record_metadata::State::new(
        record_metadata::Config {
            table_name: world.name("Table"),
            topic_arn: world.name("NotificationTopic"),
            name_token: shared::naming::StackToken::parse(testkit::TEST_TOKEN).unwrap(),
        },
        &world.sdk,
    );
    (world, state)
}

/// The mlops command, pointed at the world's region.
pub fn mlops(world: &World) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mlops"));
    command.env("AWS_REGION", &world.region);
    command
}
