//! Creates what template.yaml creates in the moto server at AWS_ENDPOINT_URL
//! (testkit::rig::World, under the template's names) and prints the
//! functions' environment as KEY=VALUE lines, plus DATA_BUCKET,
//! ARTIFACT_BUCKET and MODEL_PACKAGE_GROUP. For harnesses outside Rust
//! (`make bench`), so the world is made in one place.

use std::collections::BTreeMap;
use std::process::ExitCode;

async fn world() -> Result<BTreeMap<String, String>, String> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let world = testkit::rig::World::create(&region, &[]).await?;
    let template = testkit::template::Template::load()?;
    let mut env = BTreeMap::new();
    for (id, _) in template.functions() {
        env.extend(world.resolver.environment(&id)?);
    }
    env.insert("DATA_BUCKET".into(), world.name("DataBucket"));
    env.insert("ARTIFACT_BUCKET".into(), world.name("ArtifactBucket"));
    env.insert(
        "MODEL_PACKAGE_GROUP".into(),
        world.name("ModelPackageGroup"),
    );
    Ok(env)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match world().await {
        Ok(env) => {
            for (k, v) in env {
                println!("{k}={v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make-world: {e}");
            ExitCode::FAILURE
        }
    }
}
