//! template.yaml as CloudFormation sees it (after the SAM transform), read
//! against what the code and the state machine do.
//!
//! - The routes: /predict is IAM unless PublicPredict says otherwise; the
//!   approval pages are open, on a REST API stage that a WAF limits per
//!   address, and reachable no other way; each route reaches its function.
//! - IAM, read: every SDK call in each function's non-test source, and every
//!   Task of the state machine (with what `.sync` needs behind it), is granted,
//!   action and resource, by the template's policies as the transform wrote
//!   them (SAM policy templates expanded). A call this check cannot resolve
//!   fails it. moto's IAM enforcement (the emulator tests) checks actions; this
//!   checks resources too. Conditions are not evaluated here.
//! - Observability: the dashboard's body is JSON, and it and the alarms name
//!   only the metrics the code emits (`shared::metrics::ALL`), in the namespace
//!   every function writes to; every emitted metric is on the dashboard.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;

use serde_json::Value;
use shared::naming::{RunNames, StackToken};
use testkit::template::{ACCOUNT, Resolver, Statement, Template, allowed, allowed_in};

const REGION: &str = "us-east-1";

fn template() -> &'static Template {
    Template::load().expect("template.yaml translates")
}

// ------------------------------------------------------------------ routes

fn route_auth(resolver: &Resolver, route: &str) -> String {
    let r = template().resource(route).unwrap();
    resolver
        .text(&r["Properties"]["AuthorizationType"])
        .unwrap()
}

#[test]
fn predict_is_iam_by_default_and_open_only_when_the_parameter_says_so() {
    let t = template();
    let defaults = Resolver::new(t, REGION);
    assert_eq!(
        t.parameter_defaults()["PublicPredict"],
        "false",
        "the default is the safe one"
    );
    assert_eq!(route_auth(&defaults, "PredictRoute"), "AWS_IAM");
    let public = Resolver::new(t, REGION).with_parameter("PublicPredict", "true");
    assert_eq!(route_auth(&public, "PredictRoute"), "NONE");
}

/// Whether some permission of the template lets `source` (an execute-api
/// ARN) invoke `function`.
fn api_may_invoke(r: &Resolver, function: &str, source: &str) -> bool {
    template().resources().values().any(|p| {
        p["Type"] == "AWS::Lambda::Permission"
            && r.text(&p["Properties"]["FunctionName"]).unwrap() == r.reference(function).unwrap()
            && testkit::template::wildcard(&r.text(&p["Properties"]["SourceArn"]).unwrap(), source)
    })
}

#[test]
fn predict_is_the_http_apis_only_route_and_reaches_invoke_endpoint() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let routes: Vec<(&String, &Value)> = t
        .resources()
        .iter()
        .filter(|(_, v)| v["Type"] == "AWS::ApiGatewayV2::Route")
        .collect();
    let keys: Vec<&str> = routes
        .iter()
        .map(|(_, v)| v["Properties"]["RouteKey"].as_str().unwrap())
        .collect();
    // The approval pages are not on the HTTP API, which cannot take a WAF.
    // Staging's route exists only with two stages, with /predict's auth.
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, ["POST /predict", "POST /staging/predict"]);
    let staging = &t.resource("StagingPredictRoute").unwrap();
    assert_eq!(staging["Condition"], "TwoStages");
    assert_eq!(
        staging["Properties"]["AuthorizationType"],
        t.resource("PredictRoute").unwrap()["Properties"]["AuthorizationType"]
    );
    let props = &t.resource("PredictRoute").unwrap()["Properties"];
    let target = r.text(&props["Target"]).unwrap();
    let integration = t
        .resources()
        .iter()
        .find(|(id, _)| target == format!("integrations/{}", r.reference(id).unwrap()))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("the route's target {target} is no integration"));
    assert_eq!(
        r.text(&integration["Properties"]["IntegrationUri"])
            .unwrap(),
        r.attribute("InvokeEndpointFunction", "Arn").unwrap()
    );
    let source = format!(
        "arn:aws:execute-api:{REGION}:{ACCOUNT}:{}/$default/POST/predict",
        r.reference("HttpApi").unwrap()
    );
    assert!(api_may_invoke(&r, "InvokeEndpointFunction", &source));
    let staging = format!(
        "arn:aws:execute-api:{REGION}:{ACCOUNT}:{}/$default/POST/staging/predict",
        r.reference("HttpApi").unwrap()
    );
    assert!(api_may_invoke(&r, "InvokeEndpointFunction", &staging));
}

/// An approver's link reaches handle-approval only through the REST API's
/// stage that the WAF guards: its two methods, open, each reaching the
/// function; no permission lets another API, stage or URL invoke it; the
/// links request-approval writes name that stage; and the WAF limits each
/// address to ApprovalRequestsPerClient in five minutes, answering 429.
#[test]
fn the_approval_pages_are_reached_only_through_the_stage_the_waf_limits_per_address() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let api = testkit::gateway::RestApi::from_template(t, "ApprovalPagesApi").unwrap();
    assert_eq!(api.stage, "approvals");
    let methods: Vec<(&str, &str, &str)> = api
        .methods
        .iter()
        .map(|m| {
            (
                m.http_method.as_str(),
                m.resource.as_str(),
                m.function.as_str(),
            )
        })
        .collect();
    assert_eq!(
        methods,
        [
            ("GET", "/{id}", "HandleApprovalFunction"),
            ("POST", "/{id}", "HandleApprovalFunction")
        ]
    );
    for id in ["ApprovalPageMethod", "ApprovalDecisionMethod"] {
        assert_eq!(
            route_auth(&r, id),
            "NONE",
            "{id}: an approver has a link, not credentials"
        );
    }
    let rest = r.reference("ApprovalPagesApi").unwrap();
    let arn = |api: &str, stage: &str, method: &str| {
        format!(
            "arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/{stage}/{method}/6f1c0e0b9a4d4c2e8f7a3b5d1e9c2a40"
        )
    };
    for method in ["GET", "POST"] {
        assert!(
            api_may_invoke(
                &r,
                "HandleApprovalFunction",
                &arn(&rest, "approvals", method)
            ),
            "{method}"
        );
        // Not another stage of it (which the WAF would not guard), nor the HTTP API.
        assert!(!api_may_invoke(
            &r,
            "HandleApprovalFunction",
            &arn(&rest, "test", method)
        ));
        let http = r.reference("HttpApi").unwrap();
        assert!(!api_may_invoke(
            &r,
            "HandleApprovalFunction",
            &format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{http}/$default/{method}/approvals/x")
        ));
    }
    let handle = r.reference("HandleApprovalFunction").unwrap();
    let handle_arn = r.attribute("HandleApprovalFunction", "Arn").unwrap();
    let names_handle = |v: &Value, key: &str| {
        r.text(&v["Properties"][key])
            .is_ok_and(|n| n == handle || n == handle_arn)
    };
    let reaching: Vec<&String> = t
        .resources()
        .iter()
        .filter(|(_, v)| {
            (v["Type"] == "AWS::Lambda::Permission" && names_handle(v, "FunctionName"))
                || (v["Type"] == "AWS::Lambda::Url" && names_handle(v, "TargetFunctionArn"))
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        reaching,
        ["ApprovalPermission"],
        "handle-approval has no function URL and one caller"
    );
    // The links request-approval writes, <base>/approvals/<id>, are on the
    // guarded stage (the path tests follow them through the stage, read from
    // this template, to the page); so is the output.
    let stage_url = format!("https://{rest}.execute-api.{REGION}.amazonaws.com/approvals");
    let env = r
        .environment(&t.function_id("request-approval").unwrap())
        .unwrap();
    assert_eq!(format!("{}/approvals", env["APPROVAL_BASE_URL"]), stage_url);
    assert_eq!(
        r.text(&t.json["Outputs"]["ApprovalPagesUrl"]["Value"])
            .unwrap(),
        stage_url
    );

    // The WAF: associated with that stage, one rate-based rule per address.
    let association = r
        .resolve(&t.resource("ApprovalPagesFirewallAssociation").unwrap()["Properties"])
        .unwrap();
    assert_eq!(
        association["ResourceArn"],
        format!("arn:aws:apigateway:{REGION}::/restapis/{rest}/stages/approvals")
    );
    assert_eq!(
        association["WebACLArn"],
        r.attribute("ApprovalPagesFirewall", "Arn").unwrap()
    );
    let limit_of = |r: &Resolver| -> (Value, Value) {
        let acl = r
            .resolve(&t.resource("ApprovalPagesFirewall").unwrap()["Properties"])
            .unwrap();
        assert_eq!(acl["Scope"], "REGIONAL");
        assert_eq!(acl["DefaultAction"], serde_json::json!({"Allow": {}}));
        let rules = acl["Rules"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        let rule = &rules[0];
        let rate = &rule["Statement"]["RateBasedStatement"];
        assert_eq!(
            rate["AggregateKeyType"], "IP",
            "per address, not one bucket for everyone"
        );
        assert_eq!(rate["EvaluationWindowSec"], 300);
        assert!(
            rate.get("ScopeDownStatement").is_none(),
            "every request counts"
        );
        let block = &rule["Action"]["Block"]["CustomResponse"];
        assert_eq!(block["ResponseCode"], 429);
        let page = &acl["CustomResponseBodies"][block["CustomResponseBodyKey"].as_str().unwrap()];
        assert_eq!(page["ContentType"], "TEXT_HTML");
        assert!(
            page["Content"]
                .as_str()
                .unwrap()
                .contains("Nothing was decided")
        );
        // The alarm counts this rule of this ACL.
        let alarm = r
            .resolve(&t.resource("ApprovalPagesLimitedAlarm").unwrap()["Properties"])
            .unwrap();
        let dims: BTreeMap<&str, &str> = alarm["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["Name"].as_str().unwrap(), d["Value"].as_str().unwrap()))
            .collect();
        assert_eq!(dims["WebACL"], acl["Name"].as_str().unwrap());
        assert_eq!(
            dims["Rule"],
            rule["VisibilityConfig"]["MetricName"].as_str().unwrap()
        );
        assert_eq!(dims["Region"], REGION);
        (rate["Limit"].clone(), rule["Name"].clone())
    };
    assert_eq!(t.parameter_defaults()["ApprovalRequestsPerClient"], "100");
    assert_eq!(limit_of(&r).0, "100");
    let raised = Resolver::new(t, REGION).with_parameter("ApprovalRequestsPerClient", "400");
    assert_eq!(limit_of(&raised).0, "400");
    // The 4xx alarm names the REST API and its stage as API Gateway's metrics do.
    let refused = r
        .resolve(&t.resource("ApprovalPagesRefusedAlarm").unwrap()["Properties"])
        .unwrap();
    assert_eq!(refused["MetricName"], "4XXError");
    assert_eq!(
        refused["Dimensions"][0],
        serde_json::json!({"Name": "ApiName", "Value": r.text(&t.resource("ApprovalPagesApi").unwrap()["Properties"]["Name"]).unwrap()})
    );
    assert_eq!(
        refused["Dimensions"][1],
        serde_json::json!({"Name": "Stage", "Value": "approvals"})
    );
}

// ------------------------------------------------------------------ IAM, read

/// One AWS call a function's code makes: `service` and the SDK operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SdkCall {
    service: String,
    operation: String,
}

/// The function's source without its tests: `src/*.rs` less `tests.rs` and
/// anything after a `#[cfg(test)]`.
/// A file without its test module: everything before `#[cfg(test)] mod`.
/// Any other `#[cfg(test)]` item stays, so that one near the top of a file
/// cannot hide the production calls after it from this check.
fn without_tests(file: &str) -> &str {
    file.find("#[cfg(test)]\nmod ")
        .map_or(file, |at| &file[..at])
}

fn production_source(binary: &str) -> String {
    // test-staging sends its requests through invoke-endpoint's library
    // (invoke_endpoint::answer): that crate's calls are test-staging's too.
    if binary == "test-staging" {
        let mut text = crate_source("test-staging");
        text.push_str(&crate_source("invoke-endpoint"));
        return text;
    }
    crate_source(binary)
}

fn crate_source(binary: &str) -> String {
    // record-reminder is a binary of record-metadata's crate that runs only
    // reminder.rs; record-metadata itself refuses reminders.
    let (crate_dir, only): (&str, &[&str]) = match binary {
        "record-reminder" => (
            "record-metadata",
            &["reminder.rs", "bin/record-reminder.rs"],
        ),
        other => (other, &[]),
    };
    let dir = testkit::workspace_root()
        .join("functions")
        .join(crate_dir)
        .join("src");
    let mut text = String::new();
    if !only.is_empty() {
        for file in only {
            let file = std::fs::read_to_string(dir.join(file)).unwrap();
            text.push_str(without_tests(&file));
            text.push('\n');
        }
        return text;
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| {
                n != "tests.rs" && !(binary == "record-metadata" && n == "reminder.rs")
            })
        {
            let file = std::fs::read_to_string(&path).unwrap();
            text.push_str(without_tests(&file));
            text.push('\n');
        }
    }
    text
}

/// `source` with the whitespace around `.` removed (a call chain split over
/// lines reads as one) and other runs of whitespace made one space.
fn normalize(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            let start = i;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let next_is_dot = chars.get(i) == Some(&'.');
            let prev_is_dot = out.ends_with('.');
            if !(next_is_dot || prev_is_dot || start == 0) {
                out.push(' ');
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn ident_before(text: &str) -> String {
    let rev: String = text
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    rev.chars().rev().collect()
}

fn ident_after(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every SDK call in `source`: a `.op()` on a value typed `aws_sdk_<service>::Client`
/// (a field or a parameter). Every `.send()` must belong to one (in its own
/// statement, or on a `let` binding of one), or the source holds a call this
/// check cannot see, which fails it.
fn sdk_calls(source: &str) -> Result<Vec<SdkCall>, String> {
    let text = normalize(source);
    let mut clients = BTreeMap::new();
    for (i, _) in text.match_indices("aws_sdk_") {
        let before = text[..i].trim_end().trim_end_matches('&').trim_end();
        let Some(before) = before.strip_suffix(':') else {
            continue;
        };
        let name = ident_before(before.trim_end());
        let service = ident_after(&text[i + "aws_sdk_".len()..]);
        if !name.is_empty() && text[i + "aws_sdk_".len() + service.len()..].starts_with("::Client")
        {
            clients.insert(name, service);
        }
    }
    let mut calls = Vec::new();
    let mut bound = Vec::new();
    for statement in text.split(';') {
        let mut found = false;
        for (name, service) in &clients {
            let needle = format!("{name}.");
            for (i, _) in statement.match_indices(&needle) {
                if !ident_before(&statement[..i]).is_empty() {
                    continue;
                }
                let rest = &statement[i + needle.len()..];
                let op = ident_after(rest);
                // A client's clone() is no call to AWS.
                if !op.is_empty() && op != "clone" && rest[op.len()..].starts_with("()") {
                    calls.push(SdkCall {
                        service: service.clone(),
                        operation: op,
                    });
                    found = true;
                }
            }
        }
        if found {
            if let Some(at) = statement.find("let ") {
                let rest = statement[at + 4..].trim_start_matches("mut ");
                bound.push(ident_after(rest));
            }
        } else {
            // A builder bound earlier (`let b = client.op()...; b.more(...).send()`).
            let on_bound = bound.iter().any(|var| {
                statement
                    .match_indices(&format!("{var}."))
                    .any(|(i, _)| ident_before(&statement[..i]).is_empty())
            });
            if statement.contains(".send()") && !on_bound {
                return Err(format!(
                    "a .send() that is no SDK call this check can resolve: {}",
                    statement.trim()
                ));
            }
        }
    }
    calls.sort();
    calls.dedup();
    Ok(calls)
}

/// `describe_endpoint` → `DescribeEndpoint`.
fn pascal(op: &str) -> String {
    op.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The IAM service prefix of an SDK crate.
fn iam_service(crate_service: &str) -> &str {
    match crate_service {
        "sfn" => "states",
        "sagemakerruntime" => "sagemaker",
        other => other,
    }
}

/// A sample run's names, as the code derives them in the stack of `token`.
fn names(token: &StackToken) -> RunNames {
    RunNames::for_execution(token, "run-0123abc-20261121T100000")
}

/// What one call is authorized on: the IAM actions and the resource ARNs,
/// from the function's environment and the names the state machine passes.
/// `None`: this check does not know the call (which fails it).
fn required(
    call: &SdkCall,
    env: &BTreeMap<String, String>,
    r: &Resolver,
    source: &str,
) -> Option<Vec<(String, String)>> {
    let (region, a) = (REGION, ACCOUNT);
    let table = || format!("arn:aws:dynamodb:{region}:{a}:table/{}", env["TABLE_NAME"]);
    // Every function has the stack's token (Globals): the names it makes carry it.
    let token = StackToken::parse(env.get("NAME_TOKEN")?).ok()?;
    let endpoint_name = match r.parameters["EndpointName"].as_str() {
        "" => shared::naming::default_endpoint_name(&token),
        named => named.to_owned(),
    };
    let endpoint = format!("arn:aws:sagemaker:{region}:{a}:endpoint/{endpoint_name}");
    let config = format!(
        "arn:aws:sagemaker:{region}:{a}:endpoint-config/{}",
        shared::naming::endpoint_config_name(&token, &names(&token).model_name, "sample")
    );
    let artifacts = r.reference("ArtifactBucket").ok()?;
    let action = format!("{}:{}", iam_service(&call.service), pascal(&call.operation));
    let on = |resources: Vec<String>| -> Vec<(String, String)> {
        resources
            .into_iter()
            .map(|res| (action.clone(), res))
            .collect()
    };
    Some(match (call.service.as_str(), call.operation.as_str()) {
        ("dynamodb", "get_item" | "put_item" | "update_item") => on(vec![table()]),
        // A transaction is authorized per item action it holds.
        ("dynamodb", "transact_write_items") => {
            let items: Vec<(String, String)> = [
                ("Put::builder()", "PutItem"),
                ("Update::builder()", "UpdateItem"),
                ("ConditionCheck::builder()", "ConditionCheckItem"),
                ("Delete::builder()", "DeleteItem"),
            ]
            .into_iter()
            .filter(|(builder, _)| source.contains(builder))
            .map(|(_, item)| (format!("dynamodb:{item}"), table()))
            .collect();
            if items.is_empty() {
                return None;
            }
            items
        }
        ("sns", "publish") => {
            let topic = env
                .iter()
                .find(|(k, _)| k.ends_with("TOPIC_ARN"))
                .map(|(_, v)| v.clone())?;
            on(vec![topic])
        }
        ("codepipeline", "start_pipeline_execution") => on(vec![format!(
            "arn:aws:codepipeline:{region}:{a}:{}",
            env["PIPELINE_NAME"]
        )]),
        ("sagemaker", "describe_endpoint") => on(vec![endpoint.clone()]),
        ("sagemaker", "create_endpoint" | "update_endpoint") => {
            on(vec![endpoint.clone(), config.clone()])
        }
        ("sagemaker", "create_endpoint_config" | "describe_endpoint_config") => {
            on(vec![config.clone()])
        }
        ("sagemaker", "add_tags") => on(vec![endpoint.clone(), config.clone()]),
        // The endpoint the function's environment names: the API's, or
        // staging's for test-staging.
        ("sagemakerruntime", "invoke_endpoint") => vec![(
            "sagemaker:InvokeEndpoint".into(),
            format!(
                "arn:aws:sagemaker:{region}:{a}:endpoint/{}",
                env.get("ENDPOINT_NAME")?
            ),
        )],
        ("sfn", "send_task_success" | "send_task_failure") => {
            on(vec![r.reference("StateMachine").ok()?])
        }
        ("scheduler", "create_schedule") => vec![
            (
                "scheduler:CreateSchedule".into(),
                // start-retraining's window, or request-approval's reminder.
                if env.contains_key("PIPELINE_NAME") {
                    format!(
                        "arn:aws:scheduler:{region}:{a}:schedule/default/{}",
                        shared::naming::retrain_window_name(&token, "p", "training/", 5877)
                    )
                } else {
                    format!(
                        "arn:aws:scheduler:{region}:{a}:schedule/default/{}",
                        shared::naming::approval_reminder_name(
                            &token,
                            &shared::ApprovalId::from_bytes([0; 16]).hash()
                        )
                    )
                },
            ),
            // The schedule's target runs as this role: passing it is authorized too.
            (
                "iam:PassRole".into(),
                env.get("SCHEDULER_ROLE_ARN")?.clone(),
            ),
        ],
        ("sfn", "get_execution_history" | "describe_execution") => {
            let machine = r.attribute("StateMachine", "Name").ok()?;
            on(vec![format!(
                "arn:aws:states:{region}:{a}:execution:{machine}:run-0123abc-1"
            )])
        }
        // snapshot-data: its manifest, the data's versions, the copies.
        ("s3", op) if env.contains_key("DATA_BUCKET") => {
            let data = env.get("DATA_BUCKET")?;
            let manifest = format!("arn:aws:s3:::{artifacts}/runs/run-1/data-manifest.json");
            match op {
                "list_object_versions" => {
                    vec![(
                        "s3:ListBucketVersions".into(),
                        format!("arn:aws:s3:::{data}"),
                    )]
                }
                "list_objects_v2" => {
                    vec![("s3:ListBucket".into(), format!("arn:aws:s3:::{artifacts}"))]
                }
                "get_object" => vec![("s3:GetObject".into(), manifest)],
                "put_object" => vec![("s3:PutObject".into(), manifest)],
                "copy_object" => vec![
                    (
                        "s3:GetObject".into(),
                        format!("arn:aws:s3:::{data}/training/iris.csv"),
                    ),
                    (
                        "s3:GetObjectVersion".into(),
                        format!("arn:aws:s3:::{data}/test/iris.csv"),
                    ),
                    (
                        "s3:PutObject".into(),
                        format!("arn:aws:s3:::{artifacts}/snapshots/run-1/training/iris.csv"),
                    ),
                ],
                _ => return None,
            }
        }
        // test-staging reads the model-quality report and writes its own beside it.
        ("s3", "get_object") if env.contains_key("STAGING_REQUESTS") => vec![(
            "s3:GetObject".into(),
            format!("arn:aws:s3:::{artifacts}/transform/run-1/model-quality.json"),
        )],
        ("s3", "put_object") if env.contains_key("STAGING_REQUESTS") => vec![(
            "s3:PutObject".into(),
            format!("arn:aws:s3:::{artifacts}/transform/run-1/staging-report.json"),
        )],
        ("s3", "get_object") => vec![(
            "s3:GetObject".into(),
            format!("arn:aws:s3:::{artifacts}/transform/run-1/iris.csv.out"),
        )],
        ("s3", "put_object") => vec![(
            "s3:PutObject".into(),
            format!("arn:aws:s3:::{artifacts}/transform/run-1/model-quality.json"),
        )],
        ("s3", "list_objects_v2") => {
            vec![("s3:ListBucket".into(), format!("arn:aws:s3:::{artifacts}"))]
        }
        _ => return None,
    })
}

/// What is not granted: `(action, resource)` pairs, or the calls not understood.
fn missing_grants(
    binary: &str,
    source: &str,
    statements: &[Statement],
    r: &Resolver,
) -> Vec<String> {
    let t = template();
    let id = t.function_id(binary).unwrap();
    let env = r.environment(&id).unwrap();
    let calls = match sdk_calls(source) {
        Ok(c) => c,
        Err(e) => return vec![format!("{binary}: {e}")],
    };
    let mut missing = Vec::new();
    if calls.is_empty() {
        missing.push(format!("{binary}: no SDK call found in its source"));
    }
    for call in &calls {
        match required(call, &env, r, source) {
            None => missing.push(format!(
                "{binary}: cannot resolve what {}::{} is authorized on",
                call.service, call.operation
            )),
            Some(needs) => {
                for (action, resource) in needs {
                    if !allowed(statements, &action, &resource) {
                        missing.push(format!("{binary}: {action} on {resource}"));
                    }
                }
            }
        }
    }
    missing
}

#[test]
fn every_sdk_call_of_every_function_is_granted_on_its_resource() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let mut missing = Vec::new();
    let functions = t.functions();
    assert_eq!(functions.len(), 11, "{functions:?}");
    for (id, binary) in functions {
        let statements = r.role_statements(&r.function_role(&id).unwrap()).unwrap();
        let source = production_source(&binary);
        missing.extend(missing_grants(&binary, &source, &statements, &r));
    }
    assert!(
        missing.is_empty(),
        "calls without a grant:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_read_check_notices_a_call_without_a_grant_and_a_call_it_cannot_resolve() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let id = t.function_id("deploy-endpoint").unwrap();
    let statements = r.role_statements(&r.function_role(&id).unwrap()).unwrap();
    // The grants as they were before endpoint configs were added to CreateEndpoint.
    let narrowed: Vec<Statement> = statements
        .iter()
        .cloned()
        .map(|mut s| {
            if s.resources
                .iter()
                .any(|res| res.contains("endpoint-config"))
            {
                s.actions.retain(|a| a != "sagemaker:CreateEndpoint");
            }
            s
        })
        .collect();
    let source = production_source("deploy-endpoint");
    let missing = missing_grants("deploy-endpoint", &source, &narrowed, &r);
    assert!(
        missing
            .iter()
            .any(|m| m.contains("sagemaker:CreateEndpoint on") && m.contains("endpoint-config/")),
        "{missing:?}"
    );
    let unknown = "struct S { sm: aws_sdk_sagemaker::Client }\nfn f(s: &S) { s.sm.delete_endpoint().send(); }";
    let missing = missing_grants("deploy-endpoint", unknown, &statements, &r);
    assert!(
        missing
            .iter()
            .any(|m| m.contains("cannot resolve") && m.contains("delete_endpoint")),
        "{missing:?}"
    );
}

// ------------------------------------------------------------------ the state machine's role

fn definition(subs: &BTreeMap<String, String>) -> Value {
    let text =
        std::fs::read_to_string(testkit::workspace_root().join(testkit::rig::DEFINITION)).unwrap();
    serde_json::from_str(&testkit::rig::fill(&text, subs).unwrap()).unwrap()
}

/// What a Task's integration is authorized on, behind the scenes included.
fn task_needs(
    resource: &str,
    params: &Value,
    subs: &BTreeMap<String, String>,
) -> Option<Vec<(String, String)>> {
    let (region, a) = (REGION, ACCOUNT);
    // The definition's tests fill it in the default stack of Resolver::new.
    let n = names(&Resolver::new(template(), REGION).token());
    let sm = |kind: &str, name: &str| format!("arn:aws:sagemaker:{region}:{a}:{kind}/{name}-0-0");
    let rule =
        |name: &str| format!("arn:aws:events:{region}:{a}:rule/StepFunctionsGetEventsFor{name}");
    let pass = ("iam:PassRole".to_owned(), subs["SageMakerRoleArn"].clone());
    let group = subs["ModelPackageGroupName"].to_lowercase();
    let package = format!("arn:aws:sagemaker:{region}:{a}:model-package/{group}/1");
    let job = |create: &str, arn: String, rule_name: &str, passes: bool| {
        let mut v: Vec<(String, String)> = ["Create", "Describe", "Stop"]
            .iter()
            .map(|verb| (format!("sagemaker:{verb}{create}"), arn.clone()))
            .collect();
        v.push(("sagemaker:AddTags".into(), arn.clone()));
        for e in ["PutTargets", "PutRule", "DescribeRule"] {
            v.push((format!("events:{e}"), rule(rule_name)));
        }
        if passes {
            v.push(pass.clone());
        }
        v
    };
    let op = resource.rsplit(":::").next()?;
    Some(match op {
        "lambda:invoke" | "lambda:invoke.waitForTaskToken" => {
            let f = params["FunctionName"].as_str()?.to_owned();
            vec![("lambda:InvokeFunction".into(), f)]
        }
        "sagemaker:createTrainingJob.sync" => job(
            "TrainingJob",
            sm("training-job", &n.training_job_name),
            "SageMakerTrainingJobsRule",
            true,
        ),
        "sagemaker:createTransformJob.sync" => job(
            "TransformJob",
            sm("transform-job", &n.transform_job_name),
            "SageMakerTransformJobsRule",
            false,
        ),
        "sagemaker:createProcessingJob.sync" => job(
            "ProcessingJob",
            sm("processing-job", &n.processing_job_name),
            "SageMakerProcessingJobsRule",
            true,
        ),
        "sagemaker:createHyperParameterTuningJob.sync" => {
            let tuning = sm("hyper-parameter-tuning-job", &n.tuning_job_name);
            let mut v = job(
                "HyperParameterTuningJob",
                tuning.clone(),
                "SageMakerTuningJobsRule",
                true,
            );
            v.push((
                "sagemaker:ListTrainingJobsForHyperParameterTuningJob".into(),
                tuning,
            ));
            v
        }
        "sagemaker:createModel" => vec![
            (
                "sagemaker:CreateModel".into(),
                format!("arn:aws:sagemaker:{region}:{a}:model/{}", n.model_name),
            ),
            pass,
        ],
        "aws-sdk:sagemaker:describeModelPackage" | "aws-sdk:sagemaker:updateModelPackage" => {
            let action = format!("sagemaker:{}", pascal_camel(op.rsplit(':').next()?));
            vec![(action, package)]
        }
        "aws-sdk:sagemaker:createModelPackage" => {
            vec![("sagemaker:CreateModelPackage".into(), package)]
        }
        "aws-sdk:s3:headObject" => vec![(
            "s3:GetObject".into(),
            format!(
                "arn:aws:s3:::{}/models/{}-0-0/output/model.tar.gz",
                subs["ArtifactBucket"], n.training_job_name
            ),
        )],
        "aws-sdk:ecr:batchGetImage" | "aws-sdk:ecr:putImage" => vec![(
            format!("ecr:{}", pascal_camel(op.rsplit(':').next()?)),
            format!(
                "arn:aws:ecr:{region}:{a}:repository/{}",
                subs["ModelRepositoryName"]
            ),
        )],
        "aws-sdk:cloudwatchlogs:putRetentionPolicy" => vec![(
            "logs:PutRetentionPolicy".into(),
            format!(
                "arn:aws:logs:{region}:{a}:log-group:{}",
                params["LogGroupName"].as_str()?
            ),
        )],
        "aws-sdk:applicationautoscaling:registerScalableTarget"
        | "aws-sdk:applicationautoscaling:deregisterScalableTarget"
        | "aws-sdk:applicationautoscaling:putScalingPolicy" => {
            let verb = op.rsplit(':').next()?;
            let endpoint = subs["EndpointName"].clone();
            let mut v = vec![(
                format!("application-autoscaling:{}", pascal_camel(verb)),
                format!(
                    "arn:aws:application-autoscaling:{region}:{a}:scalable-target/0a1b2c3d4e5f"
                ),
            )];
            // What Application Auto Scaling checks the caller may do to the variant.
            if verb == "registerScalableTarget" {
                let ep = format!("arn:aws:sagemaker:{region}:{a}:endpoint/{endpoint}");
                v.push(("sagemaker:DescribeEndpoint".into(), ep.clone()));
                v.push(("sagemaker:UpdateEndpointWeightsAndCapacities".into(), ep));
                v.push((
                    "iam:CreateServiceLinkedRole".into(),
                    format!("arn:aws:iam::{a}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
                ));
            }
            if verb == "putScalingPolicy" {
                for action in ["PutMetricAlarm", "DescribeAlarms", "DeleteAlarms"] {
                    v.push((
                        format!("cloudwatch:{action}"),
                        format!("arn:aws:cloudwatch:{region}:{a}:alarm:TargetTracking-endpoint/{endpoint}/variant/AllTraffic-AlarmHigh-0a1b2c3d"),
                    ));
                }
            }
            v
        }
        "aws-sdk:s3:putObjectTagging" => {
            let archive = format!(
                "arn:aws:s3:::{}/models/{}-0-0/output/model.tar.gz",
                subs["ArtifactBucket"], n.training_job_name
            );
            // With a VersionId, S3 authorizes PutObjectVersionTagging.
            vec![
                ("s3:PutObjectTagging".into(), archive.clone()),
                ("s3:PutObjectVersionTagging".into(), archive),
            ]
        }
        "aws-sdk:sagemaker:deleteModel" => vec![(
            "sagemaker:DeleteModel".into(),
            format!("arn:aws:sagemaker:{region}:{a}:model/{}", n.model_name),
        )],
        "aws-sdk:sagemaker:deleteEndpointConfig" | "aws-sdk:sagemaker:describeEndpointConfig" => {
            vec![(
                format!("sagemaker:{}", pascal_camel(op.rsplit(':').next()?)),
                format!(
                    "arn:aws:sagemaker:{region}:{a}:endpoint-config/{}",
                    shared::naming::endpoint_config_name(
                        &Resolver::new(template(), REGION).token(),
                        &n.model_name,
                        "AllTraffic|ml.t2.medium|1|"
                    )
                ),
            )]
        }
        "aws-sdk:dynamodb:query" => vec![(
            "dynamodb:Query".into(),
            format!("arn:aws:dynamodb:{region}:{a}:table/{}", subs["TableName"]),
        )],
        "aws-sdk:sagemaker:describeTrainingJob" => vec![(
            "sagemaker:DescribeTrainingJob".into(),
            format!(
                "arn:aws:sagemaker:{region}:{a}:training-job/{}-0-0-001-0a1b2c3d",
                n.tuning_job_name
            ),
        )],
        _ => return None,
    })
}

/// `describeModelPackage` → `DescribeModelPackage`.
fn pascal_camel(op: &str) -> String {
    let mut c = op.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[test]
fn every_task_of_the_state_machine_is_granted_to_its_role() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let subs = r.substitutions("StateMachine").unwrap();
    let statements = r.role_statements("StateMachineRole").unwrap();
    let def = definition(&subs);
    let mut missing = Vec::new();
    let mut tasks = 0;
    for (name, state) in def["States"].as_object().unwrap() {
        if state["Type"] != "Task" {
            continue;
        }
        tasks += 1;
        let resource = state["Resource"].as_str().unwrap_or_default();
        // The only table read (a rollback's FindApproval) reads runs' trails.
        let context: &[(&str, &str)] = &[("dynamodb:LeadingKeys", "RUN#run-1")];
        match task_needs(resource, &state["Parameters"], &subs) {
            None => missing.push(format!("{name}: cannot resolve what {resource} needs")),
            Some(needs) => {
                for (action, res) in needs {
                    if !allowed_in(&statements, &action, &res, context) {
                        missing.push(format!("{name}: {action} on {res}"));
                    }
                }
            }
        }
    }
    assert!(tasks >= 20, "found only {tasks} tasks");
    assert!(
        missing.is_empty(),
        "tasks without a grant:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_sagemaker_role_covers_what_its_jobs_and_endpoint_do() {
    let t = template();
    let defaults = Resolver::new(t, REGION);
    // With processing on, the role must also pull the user's processing image.
    let processing = Resolver::new(t, REGION).with_parameter(
        "ProcessingImageUri",
        "210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/prep:1",
    );
    let def_text =
        std::fs::read_to_string(testkit::workspace_root().join(testkit::rig::DEFINITION)).unwrap();
    for r in [&defaults, &processing] {
        let statements = r.role_statements("SageMakerRole").unwrap();
        let data = r.reference("DataBucket").unwrap();
        let art = r.reference("ArtifactBucket").unwrap();
        let repo = r.attribute("ModelRepository", "Arn").unwrap();
        let alarm = r.attribute("EndpointErrorsAlarm", "Arn").unwrap();
        let n = names(&r.token());
        let mut needs: Vec<(&str, String)> = vec![
            // training and processing read the run's snapshot of the new data;
            // transform, of the held-out rows (snapshot-data copies them)
            ("s3:ListBucket", format!("arn:aws:s3:::{art}")),
            (
                "s3:GetObject",
                format!("arn:aws:s3:::{art}/snapshots/run-1/training/iris.csv"),
            ),
            (
                "s3:GetObject",
                format!("arn:aws:s3:::{art}/snapshots/run-1/test/iris.csv"),
            ),
            // training writes the model; transform and the endpoint read it
            (
                "s3:PutObject",
                format!(
                    "arn:aws:s3:::{art}/models/{}-0-0/output/model.tar.gz",
                    n.training_job_name
                ),
            ),
            (
                "s3:GetObject",
                format!(
                    "arn:aws:s3:::{art}/models/{}-0-0/output/model.tar.gz",
                    n.training_job_name
                ),
            ),
            // processing writes processed/, training and tuning read it
            ("s3:ListBucket", format!("arn:aws:s3:::{art}")),
            (
                "s3:PutObject",
                format!("arn:aws:s3:::{art}/processed/run-1/train.csv"),
            ),
            (
                "s3:GetObject",
                format!("arn:aws:s3:::{art}/processed/run-1/train.csv"),
            ),
            (
                "s3:PutObject",
                format!("arn:aws:s3:::{art}/transform/run-1/iris.csv.out"),
            ),
            (
                "s3:PutObject",
                format!("arn:aws:s3:::{art}/data-capture/iris-model/AllTraffic/x.jsonl"),
            ),
            ("ecr:GetAuthorizationToken", "*".into()),
            ("ecr:BatchGetImage", repo.clone()),
            ("ecr:GetDownloadUrlForLayer", repo),
            (
                "logs:PutLogEvents",
                format!(
                    "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:log-stream:x"
                ),
            ),
            ("cloudwatch:DescribeAlarms", alarm),
        ];
        if !r.parameters["ProcessingImageUri"].is_empty() {
            needs.push((
                "ecr:BatchGetImage",
                "arn:aws:ecr:eu-west-1:210987654321:repository/team/prep".into(),
            ));
            needs.push((
                "ecr:GetDownloadUrlForLayer",
                "arn:aws:ecr:eu-west-1:210987654321:repository/team/prep".into(),
            ));
        }
        // The prefixes above are the definition's own.
        for prefix in ["/models/", "/processed/", "/transform/", "/data-capture/"] {
            assert!(
                def_text.contains(&format!("s3://${{ArtifactBucket}}{prefix}")),
                "{prefix}"
            );
        }
        let missing: Vec<String> = needs
            .iter()
            .filter(|(a, res)| !allowed(&statements, a, res))
            .map(|(a, res)| format!("{a} on {res}"))
            .collect();
        assert!(
            missing.is_empty(),
            "the SageMaker role (ProcessingImageUri={:?}) lacks:\n{}",
            r.parameters["ProcessingImageUri"],
            missing.join("\n")
        );
        // The jobs never read the data bucket, where uploads go on during a run.
        assert!(!allowed(
            &statements,
            "s3:GetObject",
            &format!("arn:aws:s3:::{data}/training/iris.csv")
        ));
        // ... and pulls nothing else: no other account's, region's or repository's image.
        for other in [
            "arn:aws:ecr:eu-west-1:999999999999:repository/team/prep",
            "arn:aws:ecr:us-west-2:210987654321:repository/team/prep",
            "arn:aws:ecr:eu-west-1:210987654321:repository/other",
        ] {
            assert!(
                !allowed(&statements, "ecr:BatchGetImage", other),
                "the SageMaker role may pull {other}"
            );
        }
    }
}

#[test]
fn codepipeline_and_codebuild_can_write_and_read_the_pipelines_artifacts() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let store = r
        .text(&t.resource("Pipeline").unwrap()["Properties"]["ArtifactStore"]["Location"])
        .unwrap();
    let pipeline = r.reference("Pipeline").unwrap();
    // CodePipeline's key: the pipeline name's first 20 characters, then the artifact.
    let prefix: String = pipeline.chars().take(20).collect();
    let key = format!("arn:aws:s3:::{store}/{prefix}/Source/AbCdEfG.zip");
    let pipeline_role = r.role_statements("PipelineRole").unwrap();
    let build_role = r.role_statements("BuildRole").unwrap();
    for action in ["s3:PutObject", "s3:GetObject"] {
        assert!(
            allowed(&pipeline_role, action, &key),
            "pipeline role: {action} on {key}"
        );
    }
    assert!(
        allowed(&build_role, "s3:GetObject", &key),
        "build role: s3:GetObject on {key}"
    );
    // The same check on a long stack name: the prefix is cut at 20 characters.
    let long = r.clone().with_stack("a-very-long-stack-name-for-models");
    let prefix: String = long
        .reference("Pipeline")
        .unwrap()
        .chars()
        .take(20)
        .collect();
    let store = long.reference("PipelineArtifactBucket").unwrap();
    let key = format!("arn:aws:s3:::{store}/{prefix}/Source/AbCdEfG.zip");
    assert!(
        allowed(
            &long.role_statements("BuildRole").unwrap(),
            "s3:GetObject",
            &key
        ),
        "{key}"
    );
}

// ------------------------------------------------------------------ observability

/// `(namespace, metric, stat)` of every metric line of a dashboard body,
/// with CloudWatch's `"."` shorthand (the line above's value) expanded.
fn dashboard_metrics(body: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        if widget["type"] != "metric" {
            continue;
        }
        let props = &widget["properties"];
        assert!(
            props["region"].is_string(),
            "a widget without its region: {widget}"
        );
        let mut above: Vec<String> = Vec::new();
        for line in props["metrics"].as_array().expect("metrics") {
            let line = line.as_array().expect("a metric line is an array");
            let mut parts = Vec::new();
            for (i, part) in line.iter().enumerate() {
                match part.as_str() {
                    Some(".") => {
                        parts.push(above.get(i).cloned().expect("a \".\" with nothing above"))
                    }
                    Some(text) => parts.push(text.to_owned()),
                    None => {
                        let stat = part["stat"]
                            .as_str()
                            .or(props["stat"].as_str())
                            .expect("a stat");
                        found.push((parts[0].clone(), parts[1].clone(), stat.to_owned()));
                    }
                }
            }
            above = parts;
        }
    }
    found
}

#[test]
fn the_dashboard_and_the_alarms_name_only_metrics_the_code_emits_and_show_every_one() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let emitted: Vec<&str> = shared::metrics::ALL.iter().map(|m| m.name).collect();
    // Every function writes to one namespace, the stack's.
    let namespaces: std::collections::BTreeSet<String> = t
        .functions()
        .iter()
        .map(|(id, _)| r.environment(id).unwrap()["METRICS_NAMESPACE"].clone())
        .collect();
    assert_eq!(namespaces.len(), 1, "{namespaces:?}");
    let ns = namespaces.into_iter().next().unwrap();
    assert!(ns.starts_with("MLOps/"), "{ns}");

    let body = r
        .text(&t.resource("Dashboard").unwrap()["Properties"]["DashboardBody"])
        .unwrap();
    let body: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{body}"));
    let shown = dashboard_metrics(&body);
    for (namespace, name, stat) in &shown {
        assert_eq!(namespace, &ns, "{name}");
        assert!(
            emitted.contains(&name.as_str()),
            "the dashboard shows {name}, which no code emits"
        );
        assert!(
            [
                "Sum",
                "Average",
                "Maximum",
                "Minimum",
                "SampleCount",
                "p50",
                "p99"
            ]
            .contains(&stat.as_str()),
            "{name}: stat {stat}"
        );
    }
    for name in &emitted {
        assert!(
            shown.iter().any(|(_, n, _)| n == name),
            "{name} is emitted but not on the dashboard"
        );
    }
    assert!(
        shown
            .iter()
            .any(|(_, n, s)| n == "PredictLatency" && s == "p99")
            && shown
                .iter()
                .any(|(_, n, s)| n == "PredictLatency" && s == "p50"),
        "/predict latency p50 and p99"
    );

    // Alarms: ours name emitted metrics; every one notifies the topic and is on the dashboard.
    let topic = r.reference("NotificationTopic").unwrap();
    let alarm_widget: Vec<String> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let mut alarmed = Vec::new();
    let mut queues = Vec::new();
    for (id, resource) in t.resources() {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let props = r.resolve(&resource["Properties"]).unwrap();
        let actions = props["AlarmActions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if id != "EndpointErrorsAlarm" {
            assert!(
                actions.contains(&Value::String(topic.clone())),
                "{id} does not notify the topic"
            );
            assert!(
                alarm_widget.contains(&r.attribute(id, "Arn").unwrap()),
                "{id} is not on the dashboard's alarm widget"
            );
        }
        let namespace = props["Namespace"].as_str().unwrap_or_default();
        let name = props["MetricName"].as_str().unwrap_or_default().to_owned();
        if namespace.starts_with("MLOps/") {
            assert_eq!(namespace, ns, "{id}");
            assert!(
                emitted.contains(&name.as_str()),
                "{id} alarms on {name}, which no code emits"
            );
            alarmed.push(name);
        } else if namespace == "AWS/SQS" {
            queues.push(props["Dimensions"][0]["Value"].as_str().unwrap().to_owned());
        }
    }
    alarmed.sort();
    assert_eq!(
        alarmed,
        ["ApprovalsNearDeadline", "Predict5xx", "RunsFailed"]
    );
    for queue in [
        "UndeliveredEmails",
        "UnrecordedRunEnds",
        "StartRetrainingFailures",
    ] {
        let name = r.attribute(queue, "QueueName").unwrap();
        assert!(queues.contains(&name), "no alarm on the {queue} queue");
    }
}

#[test]
fn the_reminder_schedule_may_invoke_the_reminder_function_and_nothing_else() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let env = r
        .environment(&t.function_id("request-approval").unwrap())
        .unwrap();
    let target = &env["REMINDER_TARGET_ARN"];
    assert_eq!(target, &r.attribute("ReminderFunction", "Arn").unwrap());
    assert!(
        env["APPROVAL_REMINDER_SECONDS"].parse::<u64>().unwrap() > 0,
        "on by default"
    );
    let role = env["SCHEDULER_ROLE_ARN"]
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let role_id = t
        .resources()
        .iter()
        .find(|(id, res)| {
            res["Type"] == "AWS::IAM::Role"
                && r.attribute(id, "Arn")
                    .is_ok_and(|arn| arn.ends_with(&format!("/{role}")))
        })
        .map(|(id, _)| id.clone())
        .unwrap();
    let statements = r.role_statements(&role_id).unwrap();
    assert!(allowed(&statements, "lambda:InvokeFunction", target));
    // Not record-metadata, which writes the trail a rollback trusts.
    for other in ["InvokeEndpointFunction", "RecordMetadataFunction"] {
        let other = r.attribute(other, "Arn").unwrap();
        assert!(
            !allowed(&statements, "lambda:InvokeFunction", &other),
            "{other}"
        );
    }
    // Besides: a failed reminder goes to the schedules' dead-letter queue, and no other.
    let dlq = &env["SCHEDULE_DLQ_ARN"];
    assert!(allowed(&statements, "sqs:SendMessage", dlq));
    let other_queue = r.attribute("StartRetrainingFailures", "Arn").unwrap();
    assert!(!allowed(&statements, "sqs:SendMessage", &other_queue));
    let actions: Vec<&str> = statements
        .iter()
        .flat_map(|s| s.actions.iter().map(String::as_str))
        .collect();
    assert!(
        actions.iter().all(|a| matches!(
            *a,
            "lambda:InvokeFunction" | "sqs:SendMessage" | "kms:GenerateDataKey" | "kms:Decrypt"
        )),
        "{actions:?}"
    );
    assert!(
        statements
            .iter()
            .filter(|s| s.actions.iter().any(|a| a.starts_with("kms:")))
            .all(|s| s.has_condition),
        "the key only through SQS"
    );
}

#[test]
fn every_schedule_keeps_a_target_that_fails_at_fire_time() {
    let t = template();
    let r = Resolver::new(t, REGION).with_parameter("RetrainSchedule", "rate(7 days)");
    let dlq = r.attribute("UnfiredSchedules", "Arn").unwrap();
    // The template's own schedule.
    let target = &t.resource("ScheduledRetrain").unwrap()["Properties"]["Target"];
    assert_eq!(r.text(&target["DeadLetterConfig"]["Arn"]).unwrap(), dlq);
    assert!(
        target["RetryPolicy"]["MaximumEventAgeInSeconds"]
            .as_u64()
            .is_some()
    );
    // The ones the functions make, and the roles they run as.
    for (function, role) in [
        ("start-retraining", "SchedulerRole"),
        ("request-approval", "ReminderRole"),
    ] {
        let env = r.environment(&t.function_id(function).unwrap()).unwrap();
        assert_eq!(env["SCHEDULE_DLQ_ARN"], dlq, "{function}");
        let statements = r.role_statements(role).unwrap();
        assert!(allowed(&statements, "sqs:SendMessage", &dlq), "{role}");
    }
    // And someone hears of it.
    let alarm = &t.resource("UnfiredSchedulesAlarm").unwrap()["Properties"];
    assert_eq!(
        r.text(&alarm["Dimensions"][0]["Value"]).unwrap(),
        r.attribute("UnfiredSchedules", "QueueName").unwrap()
    );
}

#[test]
fn each_named_approver_gets_a_subscription_that_takes_only_their_own_link() {
    let t = template();
    let r = Resolver::new(t, REGION)
        .with_parameter("ApproverEmails", "ana@example.com,bob@example.com")
        .with_parameter("RequiredApprovals", "2");
    for (slot, expected) in [
        (1, Some("ana@example.com")),
        (2, Some("bob@example.com")),
        (3, None),
        (5, None),
    ] {
        let id = format!("ApproverSubscription{slot}");
        let on = r.condition(&format!("HasApprover{slot}")).unwrap();
        assert_eq!(on, expected.is_some(), "{id}");
        let Some(address) = expected else { continue };
        let props = r.resolve(&t.resource(&id).unwrap()["Properties"]).unwrap();
        assert_eq!(props["Endpoint"], address);
        assert_eq!(props["FilterPolicyScope"], "MessageAttributes");
        assert_eq!(
            props["FilterPolicy"],
            serde_json::json!({"approver": [address]})
        );
    }
    let env = r
        .environment(&t.function_id("request-approval").unwrap())
        .unwrap();
    assert_eq!(env["APPROVERS"], "ana@example.com,bob@example.com");
    assert_eq!(env["REQUIRED_APPROVALS"], "2");
    // By default nobody is named: no subscription, one link, one approver.
    let defaults = Resolver::new(t, REGION);
    assert!(!defaults.condition("HasApprover1").unwrap());
    assert_eq!(
        defaults
            .environment(&t.function_id("request-approval").unwrap())
            .unwrap()["REQUIRED_APPROVALS"],
        "1"
    );
}

// ------------------------------------------------------------------ the model image's architecture

/// The CPU architecture of a SageMaker instance type, by its family (the part
/// between `ml.` and the size). An unknown family is an error, so a new
/// allowed value must be placed here before the check passes.
fn instance_architecture(instance_type: &str) -> Result<&'static str, String> {
    let family = instance_type
        .strip_prefix("ml.")
        .and_then(|rest| rest.split('.').next())
        .ok_or_else(|| format!("{instance_type}: not a SageMaker instance type"))?;
    const X86_64: &[&str] = &[
        "t2", "t3", "m4", "m5", "m5d", "c4", "c5", "c5d", "c5n", "r5", "r5d", "m6i", "c6i", "r6i",
        "m7i", "c7i", "r7i", "g4dn", "g5", "p3", "p4d",
    ];
    // Graviton: SageMaker offers these for hosting only, not for training.
    const ARM64: &[&str] = &[
        "t4g", "m6g", "m6gd", "c6g", "c6gd", "c6gn", "r6g", "r6gd", "c7g", "m7g", "r7g",
    ];
    if X86_64.contains(&family) {
        Ok("x86_64")
    } else if ARM64.contains(&family) {
        Ok("arm64")
    } else {
        Err(format!(
            "{instance_type}: family {family} is not mapped to an architecture"
        ))
    }
}

/// The architecture a CodeBuild environment builds on, from its type and image.
fn codebuild_architecture(kind: &str, image: &str) -> Result<&'static str, String> {
    let by_kind = match kind {
        "LINUX_CONTAINER" | "LINUX_LAMBDA_CONTAINER" => "x86_64",
        "ARM_CONTAINER" | "ARM_LAMBDA_CONTAINER" => "arm64",
        other => return Err(format!("CodeBuild environment type {other} is not mapped")),
    };
    let by_image = if image.contains("aarch64") {
        "arm64"
    } else if image.contains("x86_64") || image.starts_with("aws/codebuild/standard:") {
        "x86_64"
    } else {
        return Err(format!("CodeBuild image {image}: architecture unknown"));
    };
    if by_kind != by_image {
        return Err(format!(
            "{kind} with image {image}: {by_kind} against {by_image}"
        ));
    }
    Ok(by_kind)
}

/// The architecture each `docker build` in the buildspec asks for (`--platform`);
/// a build with no platform builds for the host, which is an error here.
fn buildspec_architectures(buildspec: &str) -> Result<Vec<&'static str>, String> {
    let builds: Vec<&str> = buildspec
        .lines()
        .filter(|l| l.trim_start().starts_with("docker build"))
        .collect();
    if builds.is_empty() {
        return Err("the buildspec runs no docker build".into());
    }
    builds
        .iter()
        .map(|line| {
            let platform = line
                .split_whitespace()
                .skip_while(|w| *w != "--platform")
                .nth(1)
                .ok_or_else(|| format!("`{}` names no --platform", line.trim()))?;
            match platform {
                "linux/amd64" => Ok("x86_64"),
                "linux/arm64" => Ok("arm64"),
                other => Err(format!("platform {other} is not mapped")),
            }
        })
        .collect()
}

#[test]
fn every_instance_type_the_template_allows_runs_the_architecture_the_build_makes() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let environment = &t.resource("ModelBuild").unwrap()["Properties"]["Environment"];
    let built_on = codebuild_architecture(
        &r.text(&environment["Type"]).unwrap(),
        &r.text(&environment["Image"]).unwrap(),
    )
    .unwrap();
    let root = testkit::workspace_root();
    let buildspec = std::fs::read_to_string(root.join("container/buildspec.yml")).unwrap();
    for platform in buildspec_architectures(&buildspec).unwrap() {
        assert_eq!(
            platform, built_on,
            "the buildspec's --platform against CodeBuild's"
        );
    }
    // The build stage links for one target triple; it must be the same architecture.
    let dockerfile = std::fs::read_to_string(root.join("container/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("--target x86_64-unknown-linux-gnu") == (built_on == "x86_64"),
        "the Dockerfile's build target against CodeBuild's {built_on}"
    );
    for parameter in [
        "TrainingInstanceType",
        "TransformInstanceType",
        "EndpointInstanceType",
    ] {
        let p = &t.json["Parameters"][parameter];
        let allowed = p["AllowedValues"].as_array().unwrap_or_else(|| {
            panic!("{parameter} has no AllowedValues: a pattern cannot be checked")
        });
        let default = p["Default"].as_str().unwrap();
        assert!(
            allowed.iter().any(|v| v == default),
            "{parameter}'s default {default} is not allowed"
        );
        for value in allowed {
            let value = value.as_str().unwrap();
            assert_eq!(
                instance_architecture(value).unwrap(),
                built_on,
                "{parameter} allows {value}, but the image is built on {built_on}"
            );
        }
    }
}

#[test]
fn the_architecture_check_refuses_arm_builds_a_missing_platform_and_unknown_families() {
    // What the template said before: an arm64 build for x86_64 instances.
    assert_eq!(
        codebuild_architecture(
            "ARM_CONTAINER",
            "aws/codebuild/amazonlinux-aarch64-standard:3.0"
        ),
        Ok("arm64")
    );
    assert_ne!(instance_architecture("ml.m5.large"), Ok("arm64"));
    assert_eq!(instance_architecture("ml.m6g.large"), Ok("arm64"));
    assert!(instance_architecture("ml.zz9.large").is_err());
    assert!(
        codebuild_architecture(
            "LINUX_CONTAINER",
            "aws/codebuild/amazonlinux-aarch64-standard:3.0"
        )
        .is_err()
    );
    assert!(buildspec_architectures("      docker build -f container/Dockerfile -t x .").is_err());
    assert_eq!(
        buildspec_architectures("  docker build --platform linux/arm64 -t x ."),
        Ok(vec!["arm64"])
    );
}

// ------------------------------------------------------------------ what outlives the stack

/// Every resource id a value refers to by `Ref`, `Fn::GetAtt` or `Fn::Sub`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(id)) => out.push(id.clone()),
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(id)) = parts.first() {
                            out.push(id.clone());
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        out.push(dotted.split('.').next().unwrap_or_default().to_owned());
                    }
                    _ => {}
                }
                references(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The KMS keys of the template that `resource` names, directly.
fn keys_of(t: &Template, resource: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    references(&resource["Properties"], &mut ids);
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter(|id| {
            t.resources()
                .get(id)
                .is_some_and(|r| r["Type"] == "AWS::KMS::Key")
        })
        .collect()
}

/// The resources that `sam delete` keeps whose data a key encrypts, and
/// whether that key is kept too: `(resource, key, key retained)`.
fn retained_encryption(t: &Template) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (id, resource) in t.resources() {
        if resource["DeletionPolicy"] != "Retain" {
            continue;
        }
        for key in keys_of(t, resource) {
            let kept = t.resources()[&key]["DeletionPolicy"] == "Retain"
                && t.resources()[&key]["UpdateReplacePolicy"] == "Retain";
            out.push((id.clone(), key, kept));
        }
    }
    out
}

#[test]
fn every_key_that_encrypts_a_retained_resource_is_retained_and_has_an_alias() {
    let t = template();
    let found = retained_encryption(t);
    // The audit table is the one the docs promise to keep readable.
    assert!(
        found
            .iter()
            .any(|(id, key, _)| id == "Table" && key == "Key"),
        "the table is retained and encrypted with Key: {found:?}"
    );
    let lost: Vec<_> = found.iter().filter(|(_, _, kept)| !kept).collect();
    assert!(
        lost.is_empty(),
        "retained, but their key is deleted with the stack: {lost:?}"
    );
    // CodePipeline encrypts its artifacts (in a retained bucket) with the key too.
    let pipeline = t.resource("Pipeline").unwrap();
    let mut ids = Vec::new();
    references(&pipeline["Properties"]["ArtifactStore"], &mut ids);
    assert!(ids.contains(&"Key".to_owned()) && ids.contains(&"PipelineArtifactBucket".to_owned()));
    // Found a year later by its alias, which is kept with it.
    let alias = t
        .resources()
        .values()
        .find(|r| r["Type"] == "AWS::KMS::Alias" && keys_of(t, r) == ["Key"])
        .expect("an alias for Key");
    assert_eq!(alias["DeletionPolicy"], "Retain");
    let name = Resolver::new(t, REGION)
        .text(&alias["Properties"]["AliasName"])
        .unwrap();
    assert!(
        name.starts_with("alias/") && name.len() > "alias/".len(),
        "{name}"
    );
}

#[test]
fn the_retention_check_notices_a_retained_table_whose_key_is_deleted() {
    let mut json = template().json.clone();
    let resources = json["Resources"].as_object_mut().unwrap();
    resources["Key"]
        .as_object_mut()
        .unwrap()
        .remove("DeletionPolicy");
    let broken = Template { json };
    assert!(
        retained_encryption(&broken)
            .iter()
            .any(|(id, key, kept)| id == "Table" && key == "Key" && !kept)
    );
}

#[test]
fn the_quality_threshold_takes_only_what_json_reads_as_a_number() {
    let t = template();
    let p = &t.json["Parameters"]["QualityThreshold"];
    let pattern = regex_lite::Regex::new(p["AllowedPattern"].as_str().unwrap()).unwrap();
    let default = p["Default"].as_str().unwrap();
    for value in [default, "0.9", "1", "0", "0.75", "-0.5", "12.5"] {
        assert!(pattern.is_match(value), "{value} should be allowed");
        // What the definition's States.StringToJson and the dashboard read.
        assert!(
            serde_json::from_str::<f64>(value).is_ok(),
            "{value} is not JSON"
        );
    }
    for value in [".9", "1.", "09", "1e3", "0.9}", "", "0.9 ", "NaN"] {
        assert!(!pattern.is_match(value), "{value:?} should be refused");
    }
}

#[test]
fn the_gate_widget_is_titled_after_the_held_out_metric_the_gate_reads() {
    let t = template();
    let r = Resolver::new(t, REGION).with_parameter("HeldOutMetric", "macroF1");
    let body: Value = serde_json::from_str(
        &r.text(&t.resource("Dashboard").unwrap()["Properties"]["DashboardBody"])
            .unwrap(),
    )
    .unwrap();
    let gate = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w.to_string().contains("\"GateValue\""))
        .expect("a widget shows GateValue");
    let title = gate["properties"]["title"].as_str().unwrap();
    assert!(title.contains("macroF1"), "{title}");
    assert!(!title.contains("validation:accuracy"), "{title}");
}

// ------------------------------------------------------------------ deploy-time rules

/// The names of the template's rules that refuse these parameter values.
fn refused_by(t: &Template, overrides: &[(&str, &str)]) -> Vec<String> {
    t.refused_by(overrides).unwrap()
}

#[test]
fn the_defaults_pass_every_rule_and_each_impossible_combination_is_refused_by_its_rule() {
    let t = template();
    assert_eq!(refused_by(t, &[]), Vec::<String>::new(), "the defaults");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("ProblemType", "regression")], "RegressionGatesOnR2"),
        (
            &[("ProblemType", "classification"), ("HeldOutMetric", "r2")],
            "ClassificationGatesOnAClassMetric",
        ),
        (
            &[("DeploymentStrategy", "canary")],
            "GradualRolloutNeedsTwoInstances",
        ),
        (
            &[
                ("DeploymentStrategy", "linear"),
                ("EndpointInstanceCount", "1"),
            ],
            "GradualRolloutNeedsTwoInstances",
        ),
        // Serverless with each thing it cannot have, the rest as it must be.
        (
            &[
                ("EndpointHosting", "serverless"),
                ("DataCaptureSamplingPercent", "0"),
                ("DeploymentStrategy", "linear"),
                ("EndpointInstanceCount", "2"),
            ],
            "ServerlessHasNoInstancesOrCapture",
        ),
        (
            &[("EndpointHosting", "serverless")],
            "ServerlessHasNoInstancesOrCapture",
        ),
        (
            &[
                ("EndpointHosting", "serverless"),
                ("DataCaptureSamplingPercent", "0"),
                ("EndpointMaxInstances", "2"),
            ],
            "ServerlessHasNoInstancesOrCapture",
        ),
    ];
    for (overrides, rule) in cases {
        assert_eq!(
            refused_by(t, overrides),
            vec![(*rule).to_owned()],
            "{overrides:?}"
        );
    }
    // And what works is let through.
    for fine in [
        &[("ProblemType", "regression"), ("HeldOutMetric", "r2")][..],
        &[
            ("DeploymentStrategy", "canary"),
            ("EndpointInstanceCount", "2"),
        ][..],
        &[("HeldOutMetric", "macroF1")][..],
        &[
            ("EndpointHosting", "serverless"),
            ("DataCaptureSamplingPercent", "0"),
        ][..],
    ] {
        assert_eq!(refused_by(t, fine), Vec::<String>::new(), "{fine:?}");
    }
    // Every rule says why it refuses.
    for (name, rule) in t.json["Rules"].as_object().unwrap() {
        for a in rule["Assertions"].as_array().unwrap() {
            assert!(
                a["AssertDescription"]
                    .as_str()
                    .is_some_and(|d| d.len() > 20),
                "{name}: no AssertDescription"
            );
        }
    }
}

#[test]
fn the_longest_run_the_parameters_allow_ends_within_the_definitions_timeout_and_codepipelines() {
    let t = template();
    let max = |name: &str| -> u64 {
        t.json["Parameters"][name]["MaxValue"]
            .as_u64()
            .or_else(|| {
                t.json["Parameters"][name]["MaxValue"]
                    .as_str()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{name} has no MaxValue: the run's length is unbounded"))
    };
    let subs = Resolver::new(t, REGION)
        .substitutions("StateMachine")
        .unwrap();
    let timeout = definition(&subs)["TimeoutSeconds"]
        .as_u64()
        .expect("the definition has an overall TimeoutSeconds");
    // CodePipeline's Step Functions invoke action gives up after 7 days; the
    // run must end first, or QUEUED mode starts the next run beside it.
    let codepipeline = 7 * 24 * 3600;
    assert!(timeout < codepipeline, "{timeout} s");
    // Each wait at its longest: processing and training (or tuning) wait twice
    // their job's limit, the transform once, then the approval, then the
    // endpoint's polls and a rollout's bake time.
    let worst = 2 * max("ProcessingMaxSeconds")
        + (2 * max("TrainingMaxSeconds")).max(max("TuningMaxSeconds"))
        + max("TransformMaxSeconds")
        + max("ApprovalTimeoutSeconds")
        + max("EndpointPollSeconds") * max("EndpointMaxPolls")
        + max("DeploymentWaitSeconds");
    assert!(
        worst < timeout,
        "the parameters allow a run of {worst} s, past the definition's {timeout} s"
    );
    // With staging first, production's approval gets what is left once its
    // deploy is set aside (test-staging): the constants it counts with are
    // the definition's timeout and the longest deploy the parameters allow.
    assert_eq!(test_staging::RUN_TIMEOUT_SECONDS, timeout);
    let deploy =
        max("EndpointPollSeconds") * max("EndpointMaxPolls") + max("DeploymentWaitSeconds");
    assert!(
        test_staging::DEPLOY_RESERVE_SECONDS > deploy,
        "production's deploy may take {deploy} s"
    );
}

#[test]
fn no_lambda_task_spends_more_than_an_hour_retrying_its_functions_time_outs() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let mut timeouts = BTreeMap::new();
    for (id, _) in t.functions() {
        let timeout = t.resource(&id).unwrap()["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or(3);
        timeouts.insert(r.attribute(&id, "Arn").unwrap(), (id, timeout));
    }
    let def = definition(&r.substitutions("StateMachine").unwrap());
    let mut checked = 0;
    for (name, state) in def["States"].as_object().unwrap() {
        let Some(function) = state["Parameters"]["FunctionName"].as_str() else {
            continue;
        };
        let (id, timeout) = &timeouts[testkit::rig::unqualified(function)];
        // The first retrier that matches a time-out is the one that applies.
        let attempts = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|retrier| {
                retrier["ErrorEquals"].as_array().is_some_and(|errors| {
                    errors.iter().any(|e| {
                        matches!(
                            e.as_str(),
                            Some("Sandbox.Timedout" | "States.Timeout" | "States.ALL")
                        )
                    })
                })
            })
            .map_or(0, |retrier| retrier["MaxAttempts"].as_u64().unwrap_or(3));
        let spent = (1 + attempts) * timeout;
        assert!(
            spent <= 3600,
            "{name} ({id}, {timeout} s) retries its time-out {attempts} times: {spent} s"
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked} Lambda tasks");
}

#[test]
fn captured_requests_transform_output_and_processed_data_expire_after_their_parameters_days() {
    let t = template();
    let r = Resolver::new(t, REGION)
        .with_parameter("CaptureRetentionDays", "7")
        .with_parameter("TransformRetentionDays", "200")
        .with_parameter("ProcessedRetentionDays", "31");
    let rules =
        &t.resource("ArtifactBucket").unwrap()["Properties"]["LifecycleConfiguration"]["Rules"];
    let expires = |prefix: &str| -> Option<String> {
        rules.as_array()?.iter().find_map(|rule| {
            (rule["Status"] == "Enabled" && rule["Prefix"] == prefix)
                .then(|| r.text(&rule["ExpirationInDays"]).ok())
                .flatten()
        })
    };
    assert_eq!(expires("data-capture/").as_deref(), Some("7"));
    assert_eq!(expires("transform/").as_deref(), Some("200"));
    assert_eq!(expires("processed/").as_deref(), Some("31"));
    // A rejected version's archive, tagged by the run that rejects it.
    let rejected = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["Prefix"] == "models/")
        .expect("a rule for models/");
    assert_eq!(rejected["Status"], "Enabled");
    assert_eq!(
        rejected["TagFilters"],
        serde_json::json!([{"Key": "mlops-status", "Value": "rejected"}]),
        "only archives a run rejected: an approved version's archive is a rollback target"
    );
    assert_eq!(
        r.text(&rejected["ExpirationInDays"]).unwrap(),
        t.parameter_defaults()["RejectedModelRetentionDays"]
    );
    let def = definition(&r.substitutions("StateMachine").unwrap());
    let tag = &def["States"]["TagRejectedArchive"]["Parameters"];
    assert_eq!(tag["Tagging"]["TagSet"], rejected["TagFilters"]);
    // The bucket is versioned: an expired object leaves a noncurrent version,
    // which another rule removes.
    assert!(rules.as_array().unwrap().iter().any(|rule| {
        rule["Status"] == "Enabled"
            && rule.get("Prefix").is_none()
            && rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
                .as_u64()
                .is_some()
    }));
    // Captured data (personal data, maybe) is kept the shortest by default.
    let defaults = t.parameter_defaults();
    let days = |name: &str| defaults[name].parse::<u32>().unwrap();
    assert!(days("CaptureRetentionDays") <= 30);
    assert!(days("CaptureRetentionDays") < days("TransformRetentionDays"));
}

#[test]
fn every_functions_aws_calls_end_well_inside_its_own_timeout() {
    let t = template();
    let r = Resolver::new(t, REGION);
    for (id, binary) in t.functions() {
        let timeout = t.resource(&id).unwrap()["Properties"]["Timeout"]
            .as_f64()
            .unwrap();
        let env = r.environment(&id).unwrap();
        let sdk: f64 = env
            .get("SDK_TIMEOUT_SECONDS")
            .unwrap_or_else(|| panic!("{binary} has no SDK_TIMEOUT_SECONDS"))
            .parse()
            .unwrap();
        assert!(
            shared::aws::timeouts(Some(&env["SDK_TIMEOUT_SECONDS"])).is_ok(),
            "{binary}"
        );
        // At least two calls in a row can each use their whole budget.
        assert!(
            2.0 * sdk < timeout,
            "{binary}: an AWS call may take {sdk} s of its {timeout} s"
        );
    }
}

#[test]
fn predict_can_reserve_its_concurrency_and_throttles_and_the_apis_own_5xx_raise_alarms() {
    let t = template();
    let function = t.function_id("invoke-endpoint").unwrap();
    let reserved = |value: &str| {
        let r = Resolver::new(t, REGION).with_parameter("PredictReservedConcurrency", value);
        r.resolve(&t.resource(&function).unwrap()["Properties"])
            .unwrap()
            .get("ReservedConcurrentExecutions")
            .cloned()
    };
    assert_eq!(
        reserved("0"),
        None,
        "off by default: small accounts' quota is low"
    );
    assert_eq!(
        reserved("50").map(|v| v.to_string().trim_matches('"').to_owned()),
        Some("50".to_owned())
    );
    let r = Resolver::new(t, REGION);
    // Every function's throttles, summed.
    let alarm = r
        .resolve(&t.resource("FunctionThrottlesAlarm").unwrap()["Properties"])
        .unwrap();
    let mut watched: Vec<String> = alarm["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["MetricStat"]["Metric"]["MetricName"] == "Throttles")
        .map(|m| {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    watched.sort();
    let mut functions: Vec<String> = t
        .functions()
        .iter()
        .map(|(id, _)| r.reference(id).unwrap())
        .collect();
    functions.sort();
    assert_eq!(watched, functions);
    // The API's own 5xx, which the function's Predict5xx cannot count.
    let api = r
        .resolve(&t.resource("ApiServerErrorsAlarm").unwrap()["Properties"])
        .unwrap();
    assert_eq!(api["Namespace"], "AWS/ApiGateway");
    assert_eq!(api["MetricName"], "5xx");
    assert_eq!(
        api["Dimensions"][0]["Value"].as_str().unwrap(),
        r.reference("HttpApi").unwrap()
    );
}

/// `SageMaker.AmazonSageMakerException` is also how a ValidationException
/// arrives from the optimised SageMaker integrations, so its retrier is short;
/// throttling and SageMaker's 5xx keep the long one.
#[test]
fn a_request_sagemaker_refuses_is_retried_twice_at_most_and_throttling_keeps_five_tries() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let def = definition(&r.substitutions("StateMachine").unwrap());
    let mut checked = 0;
    for (name, state) in def["States"].as_object().unwrap() {
        if !state["Resource"]
            .as_str()
            .is_some_and(|res| res.contains(":sagemaker:"))
        {
            continue;
        }
        let attempts = |error: &str| {
            state["Retry"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|retrier| {
                    retrier["ErrorEquals"]
                        .as_array()
                        .is_some_and(|errors| errors.iter().any(|e| e == error))
                })
                .map(|retrier| retrier["MaxAttempts"].as_u64().unwrap_or(3))
        };
        let generic = attempts("SageMaker.AmazonSageMakerException");
        assert!(
            generic.is_some_and(|n| (1..=2).contains(&n)),
            "{name}: AmazonSageMakerException retried {generic:?} times"
        );
        assert_eq!(attempts("SageMaker.ThrottlingException"), Some(5), "{name}");
        checked += 1;
    }
    assert!(checked >= 11, "{checked} SageMaker tasks");
}

/// deploy-endpoint's EndpointBusy is an expected, retried wait: the errors
/// alarm subtracts what the function counts of it, and nothing else.
#[test]
fn the_function_errors_alarm_leaves_out_the_endpoint_busy_retries_deploy_endpoint_counts() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let metrics = t.resource("FunctionErrorsAlarm").unwrap()["Properties"]["Metrics"]
        .as_array()
        .unwrap()
        .clone();
    let returned: Vec<&Value> = metrics.iter().filter(|m| m["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1);
    let expression = returned[0]["Expression"].as_str().unwrap();
    let busy = metrics
        .iter()
        .find(|m| m["MetricStat"]["Metric"]["MetricName"] == "EndpointBusy")
        .expect("the alarm reads EndpointBusy");
    let id = busy["Id"].as_str().unwrap();
    let staging = metrics
        .iter()
        .find(|m| m["MetricStat"]["Metric"]["MetricName"] == "StagingTestsFailed")
        .expect("the alarm reads StagingTestsFailed");
    assert!(
        expression.ends_with(&format!(
            "- FILL({id}, 0) - FILL({}, 0)",
            staging["Id"].as_str().unwrap()
        )),
        "{expression}"
    );
    let namespace = r.text(&busy["MetricStat"]["Metric"]["Namespace"]).unwrap();
    let functions = r.environment("DeployEndpointFunction").unwrap();
    assert_eq!(namespace, functions["METRICS_NAMESPACE"]);
    assert!(shared::metrics::ALL.contains(&shared::metrics::ENDPOINT_BUSY));
    // Every function's errors are summed once, by one of the two alarms, each
    // within CloudWatch's limit of 10 metrics an alarm's math may read.
    let mut summed = Vec::new();
    for alarm in ["FunctionErrorsAlarm", "EventFunctionErrorsAlarm"] {
        let resolved = r
            .resolve(&t.resource(alarm).unwrap()["Properties"])
            .unwrap();
        let metrics = resolved["Metrics"].as_array().unwrap();
        let read = metrics
            .iter()
            .filter(|m| m.get("MetricStat").is_some())
            .count();
        assert!(read <= 10, "{alarm} reads {read} metrics");
        summed.extend(
            metrics
                .iter()
                .filter(|m| m["MetricStat"]["Metric"]["MetricName"] == "Errors")
                .map(|m| {
                    m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                }),
        );
    }
    summed.sort();
    let mut functions: Vec<String> = t
        .functions()
        .iter()
        .map(|(id, _)| r.reference(id).unwrap())
        .collect();
    functions.sort();
    assert_eq!(summed, functions);
}

/// `dynamodb:LeadingKeys` per function: each reaches only its own item kinds,
/// so the internet-facing handle-approval cannot write a run, a trigger or a
/// champion. (The test stack enforces the same conditions on the binaries.)
#[test]
fn each_function_reaches_only_its_own_item_kinds_in_the_table() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let table = r.attribute("Table", "Arn").unwrap();
    let kinds = [
        "RUN#r",
        "TRIGGER#b/k#v",
        "APPROVAL#h",
        "APPROVALTASK#g",
        "ENDPOINT#e",
    ];
    let actions = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ];
    let mut reach: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, _) in t.functions() {
        let statements = r.role_statements(&r.function_role(&id).unwrap()).unwrap();
        for kind in kinds {
            for action in actions {
                if allowed_in(
                    &statements,
                    action,
                    &table,
                    &[("dynamodb:LeadingKeys", kind)],
                ) {
                    let short = action
                        .trim_start_matches("dynamodb:")
                        .trim_end_matches("Item");
                    let prefix = kind.split('#').next().unwrap();
                    reach
                        .entry(id.clone())
                        .or_default()
                        .push(format!("{short} {prefix}"));
                }
            }
        }
    }
    let want = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        reach.get("HandleApprovalFunction"),
        Some(&want(&["Get APPROVAL", "Update APPROVAL"]))
    );
    assert_eq!(
        reach.get("StartRetrainingFunction"),
        Some(&want(&["Put TRIGGER", "Update TRIGGER"]))
    );
    assert_eq!(
        reach.get("RequestApprovalFunction"),
        Some(&want(&[
            "Get APPROVAL",
            "Put APPROVAL",
            "Update APPROVAL",
            "Delete APPROVAL",
            "Get APPROVALTASK",
            "Put APPROVALTASK",
            "Update APPROVALTASK",
            "Delete APPROVALTASK",
            "Get ENDPOINT",
        ]))
    );
    assert_eq!(
        reach.get("RecordMetadataFunction"),
        Some(&want(&[
            "Get RUN",
            "Put RUN",
            "Update RUN",
            "Get ENDPOINT",
            "Put ENDPOINT",
            "Update ENDPOINT",
        ]))
    );
    // The reminder, which any schedule made with ReminderRole runs, only reads approvals.
    assert_eq!(
        reach.get("ReminderFunction"),
        Some(&want(&["Get APPROVAL"]))
    );
    // Nothing else touches the table.
    assert_eq!(reach.len(), 5, "{reach:?}");
}

#[test]
fn a_leading_keys_condition_is_judged_and_other_conditions_are_left_alone() {
    let statement: Vec<Statement> = serde_json::from_value::<Vec<Value>>(serde_json::json!([
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*",
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["RUN#*"]}}}
    ]))
    .unwrap()
    .iter()
    .map(Statement::from_value)
    .collect();
    let put = |key: &str| {
        allowed_in(
            &statement,
            "dynamodb:PutItem",
            "t",
            &[("dynamodb:LeadingKeys", key)],
        )
    };
    assert!(put("RUN#1"));
    assert!(!put("TRIGGER#1"));
    assert!(allowed_in(
        &statement,
        "dynamodb:PutItem",
        "t",
        &[("s3:prefix", "x")]
    ));
}

/// Confused-deputy protection: a service may assume a role, or use the key,
/// only on behalf of this account (and, where the service names one, this
/// stack's resource). The roles SAM makes for the functions (trusting Lambda)
/// and the state machine (trusting Step Functions) take no trust conditions.
#[test]
fn every_service_trust_and_key_grant_is_bound_to_this_account() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let bound = |statement: &Value| -> bool {
        r.resolve(&statement["Condition"]["StringEquals"]["aws:SourceAccount"])
            .ok()
            .is_some_and(|v| v == ACCOUNT)
    };
    let services = |statement: &Value| -> Vec<String> {
        match &statement["Principal"]["Service"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut checked = Vec::new();
    let roles = t
        .resources()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role");
    for (id, resource) in roles {
        for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let services = services(statement);
            if services.is_empty()
                || services
                    .iter()
                    .all(|s| s == "lambda.amazonaws.com" || s == "states.amazonaws.com")
            {
                continue;
            }
            assert!(bound(statement), "{id} trusts {services:?} for any account");
            checked.push(id.clone());
        }
    }
    for id in ["BuildRole", "PipelineRole"] {
        assert!(checked.iter().any(|c| c == id), "{id}: {checked:?}");
    }
    let key = &t.resource("Key").unwrap()["Properties"]["KeyPolicy"]["Statement"];
    for statement in key.as_array().unwrap() {
        let services = services(statement);
        if services.is_empty() || statement["Condition"]["ArnLike"].is_object() {
            continue;
        }
        assert!(
            bound(statement),
            "the key serves {services:?} for any account"
        );
    }
}

/// The approval topic carries every approver's personal link: it takes email
/// subscriptions only, and with named approvers only their addresses.
#[test]
fn the_approval_topic_takes_only_email_subscriptions_and_only_the_named_approvers() {
    let t = template();
    let policy = |emails: &str| -> Vec<Value> {
        let r = Resolver::new(t, REGION).with_parameter("ApproverEmails", emails);
        let doc = r
            .resolve(&t.resource("ApprovalTopicPolicy").unwrap()["Properties"]["PolicyDocument"])
            .unwrap();
        doc["Statement"].as_array().unwrap().clone()
    };
    let denies = |statements: &[Value], key: &str| -> Option<Value> {
        statements
            .iter()
            .find(|s| {
                s["Effect"] == "Deny"
                    && s["Action"] == "sns:Subscribe"
                    && !s["Condition"]["StringNotEquals"][key].is_null()
            })
            .map(|s| s["Condition"]["StringNotEquals"][key].clone())
    };
    let named = policy("ana@example.com,bob@example.com");
    assert_eq!(denies(&named, "sns:Protocol"), Some(Value::from("email")));
    assert_eq!(
        denies(&named, "sns:Endpoint"),
        Some(serde_json::json!(["ana@example.com", "bob@example.com"]))
    );
    // With no named approvers whoever subscribes by hand gets the one link.
    let open = policy("");
    assert_eq!(denies(&open, "sns:Protocol"), Some(Value::from("email")));
    assert_eq!(denies(&open, "sns:Endpoint"), None);
}

/// The access logs' 429 filters, on lines in each log's own format: the
/// approval pages' 429s (the WAF's or the stage's) are counted for their
/// alarm, /predict's for the API's, and nothing else is counted. (CloudWatch
/// Logs evaluates the pattern in AWS; moto does not, so this reads the
/// two-clause subset the template uses: `$.field = "value"`, `*` a wildcard,
/// joined by `&&`.)
#[test]
fn the_access_log_filters_count_the_approval_pages_429s_and_the_apis() {
    let t = template();
    let r = Resolver::new(t, REGION);
    let http_format = r
        .text(&t.resource("HttpApiStage").unwrap()["Properties"]["AccessLogSettings"]["Format"])
        .unwrap();
    let rest_format = r
        .text(
            &t.resource("ApprovalPagesStage").unwrap()["Properties"]["AccessLogSetting"]["Format"],
        )
        .unwrap();
    // (log group, line) as API Gateway writes it for a request to `route`.
    let line = |route: &str, status: u16, waf: &str| -> (String, Value) {
        let (method, path) = route.split_once(' ').unwrap();
        let (group, format) = if path == "/predict" {
            ("ApiAccessLogs", &http_format)
        } else {
            ("ApprovalPagesAccessLogs", &rest_format)
        };
        let text = format
            .replace("$context.requestId", "r1")
            .replace("$context.identity.sourceIp", "203.0.113.9")
            .replace("$context.httpMethod", method)
            .replace("$context.routeKey", route)
            .replace("$context.resourcePath", path)
            .replace("$context.status", &status.to_string())
            .replace("$context.wafResponseCode", waf)
            .replace("$context.responseLatency", "12")
            .replace("$context.integrationErrorMessage", "-");
        assert!(
            !text.contains("$context"),
            "a variable this test does not fill: {text}"
        );
        let event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (r.reference(group).unwrap(), event)
    };
    let matches = |id: &str, (group, event): &(String, Value)| -> bool {
        let props = &t.resource(id).unwrap()["Properties"];
        if r.text(&props["LogGroupName"]).unwrap() != *group {
            return false;
        }
        let pattern = r.text(&props["FilterPattern"]).unwrap();
        let inner = pattern.trim().trim_start_matches('{').trim_end_matches('}');
        inner.split("&&").all(|clause| {
            let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
            let (field, value) = clause.split_once('=').unwrap();
            let field = field.trim().trim_start_matches("$.");
            let value = value.trim().trim_matches('"');
            event[field]
                .as_str()
                .is_some_and(|v| testkit::template::wildcard(value, v))
        })
    };
    let cases = [
        // The WAF's per-address limit, and the stage's limit for everyone.
        ("GET /{id}", 429, "WAF_BLOCK", true, false),
        ("POST /{id}", 429, "WAF_ALLOW", true, false),
        ("POST /predict", 429, "-", false, true),
        ("GET /{id}", 404, "WAF_ALLOW", false, false),
        ("POST /predict", 200, "-", false, false),
    ];
    for (route, status, waf, approvals, api) in cases {
        let event = line(route, status, waf);
        assert_eq!(
            matches("ApprovalPagesThrottledFilter", &event),
            approvals,
            "{route} {status}"
        );
        assert_eq!(
            matches("ApiThrottledFilter", &event),
            api,
            "{route} {status}"
        );
    }
}

// ------------------------------------------------------------------ two stacks in one account

/// What a stack makes in the account's shared namespaces, as its code names
/// them: its jobs, models, endpoint configs, schedules, endpoint, registry
/// group, table and state machine.
fn stack_resources(r: &Resolver) -> Vec<(&'static str, String)> {
    let (region, a) = (REGION, ACCOUNT);
    let token = r.token();
    let n = names(&token);
    let sm = |kind: &str, name: &str| format!("arn:aws:sagemaker:{region}:{a}:{kind}/{name}");
    let job = |name: &str| format!("{name}-0-0");
    let group = r.reference("ModelPackageGroup").unwrap().to_lowercase();
    vec![
        (
            "training job",
            sm("training-job", &job(&n.training_job_name)),
        ),
        (
            "tuning's training job",
            sm(
                "training-job",
                &format!("{}-001-0a1b2c3d", job(&n.tuning_job_name)),
            ),
        ),
        (
            "tuning job",
            sm("hyper-parameter-tuning-job", &job(&n.tuning_job_name)),
        ),
        (
            "processing job",
            sm("processing-job", &job(&n.processing_job_name)),
        ),
        (
            "transform job",
            sm("transform-job", &job(&n.transform_job_name)),
        ),
        ("model", sm("model", &n.model_name)),
        (
            "endpoint config",
            sm(
                "endpoint-config",
                &shared::naming::endpoint_config_name(&token, &n.model_name, "sample"),
            ),
        ),
        (
            "endpoint",
            sm("endpoint", &shared::naming::default_endpoint_name(&token)),
        ),
        (
            "registry version",
            sm("model-package", &format!("{group}/1")),
        ),
        (
            "window schedule",
            format!(
                "arn:aws:scheduler:{region}:{a}:schedule/default/{}",
                shared::naming::retrain_window_name(&token, "p", "training/", 5877)
            ),
        ),
        (
            "reminder schedule",
            format!(
                "arn:aws:scheduler:{region}:{a}:schedule/default/{}",
                shared::naming::approval_reminder_name(
                    &token,
                    &shared::ApprovalId::from_bytes([0; 16]).hash()
                )
            ),
        ),
        ("table", r.attribute("Table", "Arn").unwrap()),
        ("state machine", r.reference("StateMachine").unwrap()),
    ]
}

/// Every role of the stack with its resolved statements.
fn all_role_statements(r: &Resolver) -> Vec<(String, Vec<Statement>)> {
    template()
        .resources()
        .iter()
        .filter(|(_, v)| v["Type"] == "AWS::IAM::Role")
        .map(|(id, _)| (id.clone(), r.role_statements(id).unwrap()))
        .collect()
}

/// Whether `action` (a statement's own, wildcards and all) belongs to the
/// service of `arn`: an ecr:* grant on `*` cannot act on a SageMaker job.
fn same_service(action: &str, arn: &str) -> bool {
    let service = action.split(':').next().unwrap_or_default();
    service == "*" || arn.split(':').nth(2) == Some(service)
}

/// Which of `other`'s resources a role of `own` may act on with any action its
/// statements name (conditions set aside: a statement that could allow it counts).
fn reach_into(own: &Resolver, other: &Resolver) -> Vec<String> {
    let theirs = stack_resources(other);
    let mut reached = Vec::new();
    for (role, statements) in all_role_statements(own) {
        for s in &statements {
            for action in &s.actions {
                for (what, arn) in &theirs {
                    if same_service(action, arn) && s.allows(action, arn) {
                        reached.push(format!(
                            "{role} may {action} on the other stack's {what} {arn}"
                        ));
                    }
                }
            }
        }
    }
    reached
}

#[test]
fn two_stacks_in_one_account_name_everything_apart_and_neither_role_reaches_the_others() {
    let t = template();
    // "team-train" would have matched "team"'s old pattern train-*, and its
    // registry group is team-train-models: names that share a prefix.
    let a = Resolver::new(t, REGION).with_stack("team");
    let b = Resolver::new(t, REGION).with_stack("team-train");
    assert_ne!(a.token(), b.token());
    let (ours, theirs) = (stack_resources(&a), stack_resources(&b));
    for ((what, x), (_, y)) in ours.iter().zip(&theirs) {
        assert_ne!(x, y, "the two stacks share a {what}");
    }
    assert_eq!(reach_into(&a, &b), Vec::<String>::new());
    assert_eq!(reach_into(&b, &a), Vec::<String>::new());
    // Not vacuous: each stack's roles do reach every one of its own.
    for r in [&a, &b] {
        let statements: Vec<Statement> = all_role_statements(r)
            .into_iter()
            .flat_map(|(_, s)| s)
            .collect();
        for (what, arn) in stack_resources(r) {
            assert!(
                statements
                    .iter()
                    .any(|s| s.actions.iter().any(|action| s.allows(action, &arn))),
                "no role of {} reaches its own {what} {arn}",
                r.stack
            );
        }
    }
}

#[test]
fn the_isolation_check_notices_a_pattern_that_ignores_the_token() {
    let t = template();
    let a = Resolver::new(t, REGION).with_stack("team");
    let b = Resolver::new(t, REGION).with_stack("team-train");
    let mut statements = all_role_statements(&a);
    // The pattern before stacks had tokens.
    statements[0]
        .1
        .push(Statement::from_value(&serde_json::json!({
            "Effect": "Allow",
            "Action": "sagemaker:CreateTrainingJob",
            "Resource": format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/train-*"),
        })));
    let theirs = stack_resources(&b);
    let reached = statements.iter().flat_map(|(_, ss)| ss).any(|s| {
        theirs.iter().any(|(_, arn)| {
            s.actions
                .iter()
                .any(|a| same_service(a, arn) && s.allows(a, arn))
        })
    });
    assert!(reached);
}

// ------------------------------------------------------------------ what Rules cannot say

#[test]
fn more_required_approvals_than_named_approvers_fails_the_template_at_deploy_time() {
    let t = template();
    let id = t.function_id("request-approval").unwrap();
    let with = |emails: &str, required: &str| {
        Resolver::new(t, REGION)
            .with_parameter("ApproverEmails", emails)
            .with_parameter("RequiredApprovals", required)
            .environment(&id)
    };
    // CloudFormation fails a template whose Fn::Select reaches past its list.
    let refused = with("ana@example.com", "2").unwrap_err();
    assert!(refused.contains("out of range"), "{refused}");
    assert!(
        with("", "2").is_err(),
        "without named approvers the quorum is 1"
    );
    let env = with("ana@example.com,bo@example.com", "2").unwrap();
    assert_eq!(
        env["QUORUM_CHECK"],
        "approval number 2 comes from bo@example.com"
    );
    assert!(with("", "1").is_ok(), "the defaults deploy");
    assert!(with("ana@example.com,bo@example.com,cy@example.com", "1").is_ok());
}

/// Autoscaling's floor is EndpointInstanceCount: a maximum below it fails
/// the template at deploy time (Fn::Select past the list), and 0 turns
/// autoscaling off whatever the count.
#[test]
fn a_scaling_maximum_below_the_instance_count_fails_the_template_at_deploy_time() {
    let t = template();
    let id = t.function_id("deploy-endpoint").unwrap();
    let with = |count: &str, max: &str| {
        Resolver::new(t, REGION)
            .with_parameter("EndpointInstanceCount", count)
            .with_parameter("EndpointMaxInstances", max)
            .environment(&id)
    };
    assert_eq!(t.parameter_defaults()["EndpointMaxInstances"], "0");
    for (count, max) in [("1", "0"), ("10", "0"), ("2", "2"), ("2", "4"), ("1", "10")] {
        assert!(with(count, max).is_ok(), "{count} to {max}");
    }
    assert_eq!(
        with("2", "4").unwrap()["SCALING_CHECK"],
        "floor 2, ceiling 4 (0: no autoscaling)"
    );
    for (count, max) in [("2", "1"), ("5", "4"), ("10", "9")] {
        let refused = with(count, max).unwrap_err();
        assert!(
            refused.contains("out of range"),
            "{count} to {max}: {refused}"
        );
    }
}

#[test]
fn only_the_sagemaker_role_may_write_a_model_archive() {
    let r = Resolver::new(template(), REGION);
    let policy = r
        .resolve(
            &template().resource("ArtifactBucketPolicy").unwrap()["Properties"]["PolicyDocument"],
        )
        .unwrap();
    let models = format!("{}/models/*", r.attribute("ArtifactBucket", "Arn").unwrap());
    let deny = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Effect"] == "Deny" && s["Resource"] == models.as_str())
        .expect("a Deny on models/");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(deny["Action"], "s3:PutObject");
    assert_eq!(
        deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        r.attribute("SageMakerRole", "Arn").unwrap().as_str()
    );
    // And the SageMaker role's own policy is what writes there (training output).
    let own = r.role_statements("SageMakerRole").unwrap();
    assert!(allowed(
        &own,
        "s3:PutObject",
        &models.replace('*', "train-x/output/model.tar.gz")
    ));
}

#[test]
fn the_stacks_own_endpoint_gets_a_log_group_with_retention_and_a_named_one_does_not() {
    let t = template();
    let ours = Resolver::new(t, REGION);
    assert!(ours.condition("EndpointOfThisStack").unwrap());
    let logs = ours
        .resolve(&t.resource("EndpointLogs").unwrap()["Properties"])
        .unwrap();
    assert_eq!(
        logs["LogGroupName"],
        format!(
            "/aws/sagemaker/Endpoints/{}",
            shared::naming::default_endpoint_name(&ours.token())
        )
        .as_str()
    );
    assert_eq!(
        logs["RetentionInDays"],
        ours.parameters["LogRetentionDays"].as_str()
    );
    let named = Resolver::new(t, REGION).with_parameter("EndpointName", "iris-model");
    assert!(!named.condition("EndpointOfThisStack").unwrap());
}
