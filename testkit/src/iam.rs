//! Each function runs with credentials whose only permissions are that
//! function's policy from template.yaml (after the SAM transform), so an
//! emulator test fails with AccessDenied where AWS would.
//!
//! moto's IAM access control (`scripts/with-moto` turns it on) checks the
//! action of every call, and the resource only for S3 (bucket and key) and
//! SQS. The policy handed to moto is therefore the template's, resolved, with
//! S3 resources keeping their key patterns under any bucket (the tests' buckets
//! have names of their own) and every other resource `*`. The resources
//! themselves are checked by the read check (testkit/tests/template.rs).

use serde_json::{Value, json};

use crate::template::{Resolver, Template};

/// The moto-ready policy document for the function built from `binary`.
pub fn function_policy(binary: &str) -> Result<Value, String> {
    let template = Template::load()?;
    let resolver = Resolver::new(template, "us-east-1");
    let id = template.function_id(binary)?;
    let statements = resolver.role_statements(&resolver.function_role(&id)?)?;
    let statements: Vec<Value> = statements
        .into_iter()
        .map(|s| {
            let mut json = s.json;
            let resources: Vec<String> = s.resources.iter().map(|r| for_moto(r)).collect();
            json["Resource"] = json!(resources);
            json
        })
        .collect();
    Ok(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// An S3 ARN keeps its key pattern under any bucket; anything else is `*`.
fn for_moto(resource: &str) -> String {
    match resource.strip_prefix("arn:aws:s3:::") {
        Some(path) => match path.split_once('/') {
            Some((_, key)) => format!("arn:aws:s3:::*/{key}"),
            None => "arn:aws:s3:::*".to_owned(),
        },
        None => "*".to_owned(),
    }
}

/// Access keys of a new IAM user in moto that holds only `binary`'s policy.
pub fn function_credentials(binary: &str) -> Result<(String, String), String> {
    let policy = function_policy(binary)?;
    let user = crate::unique(&format!("fn-{binary}"));
    // The SDK is async and this is called from sync and async code alike: a
    // thread of its own with its own runtime serves both.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let sdk = shared::aws::sdk_config().await;
            let iam = aws_sdk_iam::Client::new(&sdk);
            iam.create_user()
                .user_name(&user)
                .send()
                .await
                .map_err(|e| format!("CreateUser: {e:?}"))?;
            iam.put_user_policy()
                .user_name(&user)
                .policy_name("template")
                .policy_document(policy.to_string())
                .send()
                .await
                .map_err(|e| format!("PutUserPolicy: {e:?}"))?;
            let key = iam
                .create_access_key()
                .user_name(&user)
                .send()
                .await
                .map_err(|e| format!("CreateAccessKey: {e:?}"))?;
            let key = key.access_key().ok_or("CreateAccessKey answered no key")?;
            Ok((
                key.access_key_id().to_owned(),
                key.secret_access_key().to_owned(),
            ))
        })
    })
    .join()
    .map_err(|_| "the IAM setup thread panicked".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_resources_keep_their_key_pattern_and_others_become_any() {
        assert_eq!(
            for_moto("arn:aws:s3:::stack-artifactbucket/transform/*"),
            "arn:aws:s3:::*/transform/*"
        );
        assert_eq!(
            for_moto("arn:aws:s3:::stack-artifactbucket"),
            "arn:aws:s3:::*"
        );
        assert_eq!(
            for_moto("arn:aws:dynamodb:us-east-1:123456789012:table/t"),
            "*"
        );
    }
}
