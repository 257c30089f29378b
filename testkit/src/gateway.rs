//! API Gateway's REST API, as far as the approval pages use it: the template's
//! own resources, methods and stage (read from the translated template, not
//! restated here), each method's `AWS_PROXY` integration turned into the
//! REST proxy event API Gateway sends (payload 1.0: `resource`, `path`,
//! `pathParameters`, `requestContext.stage`, `multiValueHeaders`…), and the
//! function's proxy answer turned back into HTTP. A path or method the API
//! does not define gets API Gateway's own 403 `Missing Authentication Token`;
//! a function error its 502.
//!
//! What it does not play: the WAF in front of the stage (its rule is checked in
//! testkit/tests/template.rs, its counting only by AWS), the stage's throttle,
//! TLS. It binds 127.0.0.1 and stops with its owner.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

use crate::template::Template;
use crate::{Function, Invocation};

/// One method of the REST API: `GET /{id}` and the function it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestMethod {
    pub http_method: String,
    /// The resource path, as API Gateway names it (`/{id}`).
    pub resource: String,
    /// The logical id of the function its integration invokes.
    pub function: String,
}

/// A REST API of the template: its stage and its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestApi {
    pub logical_id: String,
    pub stage: String,
    pub methods: Vec<RestMethod>,
}

fn reference(v: &Value) -> Option<&str> {
    v["Ref"].as_str()
}

impl RestApi {
    /// The REST API `logical_id` as the translated template defines it.
    pub fn from_template(t: &Template, logical_id: &str) -> Result<RestApi, String> {
        let resources = t.resources();
        let api = t.resource(logical_id)?;
        if api["Type"] != "AWS::ApiGateway::RestApi" {
            return Err(format!("{logical_id} is no AWS::ApiGateway::RestApi"));
        }
        let of_api = |r: &Value| reference(&r["Properties"]["RestApiId"]) == Some(logical_id);
        // A resource's full path, from its PathPart up to the API's root.
        let path = |mut id: String| -> Result<String, String> {
            let mut parts = Vec::new();
            for _ in 0..32 {
                let r = t.resource(&id)?;
                parts.push(
                    r["Properties"]["PathPart"]
                        .as_str()
                        .ok_or_else(|| format!("{id} has no PathPart"))?
                        .to_owned(),
                );
                let parent = &r["Properties"]["ParentId"];
                if parent["Fn::GetAtt"] == json!([logical_id, "RootResourceId"]) {
                    parts.reverse();
                    return Ok(format!("/{}", parts.join("/")));
                }
                id = reference(parent)
                    .ok_or_else(|| format!("{id}'s ParentId is neither a Ref nor the root"))?
                    .to_owned();
            }
            Err(format!("{id}: resource paths deeper than 32"))
        };
        let function_of = regex_lite::Regex::new(r"\$\{(\w+)\.Arn\}").map_err(|e| e.to_string())?;
        let mut methods = Vec::new();
        for (id, r) in resources {
            if r["Type"] != "AWS::ApiGateway::Method" || !of_api(r) {
                continue;
            }
            let p = &r["Properties"];
            let integration = &p["Integration"];
            if integration["Type"] != "AWS_PROXY" || integration["IntegrationHttpMethod"] != "POST"
            {
                return Err(format!(
                    "{id}: only AWS_PROXY integrations invoked by POST are played"
                ));
            }
            let uri = integration["Uri"]["Fn::Sub"]
                .as_str()
                .ok_or_else(|| format!("{id}'s integration Uri is not a Fn::Sub"))?;
            if !uri.ends_with("/invocations") || !uri.contains(":lambda:path/2015-03-31/functions/")
            {
                return Err(format!(
                    "{id}'s integration does not invoke a function: {uri}"
                ));
            }
            let function = function_of
                .captures(uri)
                .map(|c| c[1].to_owned())
                .ok_or_else(|| format!("{id}'s integration names no function: {uri}"))?;
            let resource = match reference(&p["ResourceId"]) {
                Some(rid) => path(rid.to_owned())?,
                None => "/".to_owned(),
            };
            methods.push(RestMethod {
                http_method: p["HttpMethod"].as_str().unwrap_or_default().to_owned(),
                resource,
                function,
            });
        }
        let stages: Vec<&str> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::ApiGateway::Stage" && of_api(r))
            .filter_map(|r| r["Properties"]["StageName"].as_str())
            .collect();
        let [stage] = stages.as_slice() else {
            return Err(format!(
                "{logical_id} has {} stages; one is played",
                stages.len()
            ));
        };
        methods.sort_by(|a, b| (&a.resource, &a.http_method).cmp(&(&b.resource, &b.http_method)));
        Ok(RestApi {
            logical_id: logical_id.to_owned(),
            stage: (*stage).to_owned(),
            methods,
        })
    }

    /// The method a request reaches, with its path parameters.
    pub fn route(&self, method: &str, path: &str) -> Option<(&RestMethod, Map<String, Value>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.methods.iter().find_map(|m| {
            if !m.http_method.eq_ignore_ascii_case(method) {
                return None;
            }
            let template: Vec<&str> = m.resource.trim_start_matches('/').split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut params = Map::new();
            for (t, s) in template.iter().zip(&segments) {
                match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) if !s.is_empty() => {
                        params.insert(name.to_owned(), Value::from(*s));
                    }
                    Some(_) => return None,
                    None if t == s => {}
                    None => return None,
                }
            }
            Some((m, params))
        })
    }
}

/// One HTTP request as it reached the gateway.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// The path with the stage, and the query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

/// The REST proxy event (payload 1.0) API Gateway sends for `request`, or
/// `None` for a path outside the stage or a method the API lacks.
pub fn proxy_event(
    api: &RestApi,
    request: &HttpRequest,
    request_id: &str,
) -> Option<(String, Value)> {
    let (path, query) = match request.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (request.target.as_str(), None),
    };
    let within = path.strip_prefix(&format!("/{}", api.stage))?;
    let within = if within.is_empty() { "/" } else { within };
    if !within.starts_with('/') {
        return None;
    }
    let (method, params) = api.route(&request.method, within)?;
    let mut headers = Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &request.headers {
        headers.insert(k.clone(), Value::from(v.clone()));
        multi.entry(k.clone()).or_default().push(v.clone());
    }
    let (mut queries, mut multi_queries) = (Map::new(), BTreeMap::<String, Vec<String>>::new());
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        queries.insert(k.to_string(), Value::from(v.to_string()));
        multi_queries
            .entry(k.to_string())
            .or_default()
            .push(v.to_string());
    }
    let text = String::from_utf8(request.body.clone());
    let (body, base64) = match (&text, request.body.is_empty()) {
        (_, true) => (Value::Null, false),
        (Ok(t), false) => (Value::from(t.clone()), false),
        (Err(_), false) => (
            Value::from(aws_smithy_types::base64::encode(&request.body)),
            true,
        ),
    };
    let host = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let nothing_or = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let event = json!({
        "resource": method.resource,
        "path": within,
        "httpMethod": method.http_method,
        "headers": nothing_or(headers),
        "multiValueHeaders": if multi.is_empty() { Value::Null } else { json!(multi) },
        "queryStringParameters": nothing_or(queries),
        "multiValueQueryStringParameters": if multi_queries.is_empty() { Value::Null } else { json!(multi_queries) },
        "pathParameters": nothing_or(params),
        "stageVariables": Value::Null,
        "requestContext": {
            "accountId": crate::template::ACCOUNT,
            "apiId": "approvalsapi",
            "resourceId": "abc123",
            "resourcePath": method.resource,
            "httpMethod": method.http_method,
            "path": path,
            "stage": api.stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": "01/Dec/2026:00:00:00 +0000",
            "requestTimeEpoch": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default(),
            "protocol": "HTTP/1.1",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("user-agent")).map(|(_, v)| v.clone()),
            },
        },
        "body": body,
        "isBase64Encoded": base64,
    });
    Some((method.function.clone(), event))
}

/// An HTTP answer: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn gateway_message(status: u16, message: &str) -> HttpAnswer {
    HttpAnswer {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "x-amzn-errortype".into(),
                if status == 403 {
                    "MissingAuthenticationTokenException"
                } else {
                    "InternalServerErrorException"
                }
                .into(),
            ),
        ],
        body: json!({"message": message}).to_string().into_bytes(),
    }
}

/// What API Gateway answers for the function's proxy answer (payload 1.0):
/// a malformed one is API Gateway's 502.
pub fn proxy_answer(invocation: Invocation) -> HttpAnswer {
    let Invocation::Ok(v) = invocation else {
        return gateway_message(502, "Internal server error");
    };
    let Some(status) = v["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()) else {
        return gateway_message(502, "Internal server error");
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(h) = v["headers"].as_object() {
        for (k, val) in h {
            if let Some(val) = val.as_str() {
                headers.push((k.clone(), val.to_owned()));
            }
        }
    }
    if let Some(h) = v["multiValueHeaders"].as_object() {
        for (k, vals) in h {
            // API Gateway merges the two maps: a header in both is sent twice.
            for val in vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                headers.push((k.clone(), val.to_owned()));
            }
        }
    }
    let text = v["body"].as_str().unwrap_or_default();
    let body = if v["isBase64Encoded"] == true {
        match aws_smithy_types::base64::decode(text) {
            Ok(b) => b,
            Err(_) => return gateway_message(502, "Internal server error"),
        }
    } else {
        text.as_bytes().to_vec()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

/// The REST API served on 127.0.0.1, each method's function invoked through
/// its [`crate::LambdaRuntime`]. Dropping it stops its listener.
#[derive(Debug)]
pub struct RestGateway {
    port: u16,
    stage: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RestGateway {
    /// Serves `api`; `functions` maps each method's function (logical id) to
    /// the started function that plays it.
    pub fn start(
        api: RestApi,
        functions: BTreeMap<String, Function>,
        agent: ureq::Agent,
    ) -> Result<RestGateway, String> {
        for m in &api.methods {
            if !functions.contains_key(&m.function) {
                return Err(format!(
                    "{} {} reaches {}, which was not started",
                    m.http_method, m.resource, m.function
                ));
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let stage = api.stage.clone();
        let shared = Arc::new((api, functions, agent));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut served = 0u64;
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        served += 1;
                        let shared = shared.clone();
                        let id = format!("gw-{port}-{served}");
                        std::thread::spawn(move || {
                            let (api, functions, agent) = &*shared;
                            let _ = serve(stream, &peer.ip().to_string(), &id, |request, id| {
                                match proxy_event(api, request, id) {
                                    None => gateway_message(403, "Missing Authentication Token"),
                                    Some((function, event)) => {
                                        let f = &functions[&function];
                                        proxy_answer(crate::invoke_with(agent, f, &event))
                                    }
                                }
                            });
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Ok(RestGateway {
            port,
            stage,
            stop,
            thread: Some(thread),
        })
    }

    /// The stage's base URL, as the template's `ApprovalPagesUrl` output is on AWS.
    pub fn url(&self) -> String {
        format!("{}/{}", self.origin(), self.stage)
    }

    /// The API's own URL, without the stage (`https://<api>.execute-api.…` on AWS).
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for RestGateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The template's REST API `logical_id` served on 127.0.0.1, each method's
/// function played by what `function` starts for its binary name.
pub fn start_from_template(
    logical_id: &str,
    agent: ureq::Agent,
    mut function: impl FnMut(&str) -> Result<Function, String>,
) -> Result<RestGateway, String> {
    let template = Template::load()?;
    let api = RestApi::from_template(template, logical_id)?;
    let binaries = template.functions();
    let mut functions = BTreeMap::new();
    for m in &api.methods {
        let (_, binary) = binaries
            .iter()
            .find(|(id, _)| *id == m.function)
            .ok_or_else(|| format!("{} is not a function of the template", m.function))?;
        functions.insert(m.function.clone(), function(binary)?);
    }
    RestGateway::start(api, functions, agent)
}

/// The template's approval pages (ApprovalPagesApi) in front of
/// `handle_approval`, a started binary: every method must reach it.
pub fn approval_pages(
    runtime: &crate::LambdaRuntime,
    handle_approval: &Function,
) -> Result<RestGateway, String> {
    start_from_template("ApprovalPagesApi", runtime.agent(), |binary| {
        (binary == "handle-approval")
            .then(|| handle_approval.clone())
            .ok_or_else(|| format!("the approval pages reach {binary}, not handle-approval"))
    })
}

/// Reads one HTTP/1.1 request from `stream`, answers it with `answer`, and
/// closes the connection.
fn serve(
    stream: TcpStream,
    source_ip: &str,
    request_id: &str,
    answer: impl Fn(&HttpRequest, &str) -> HttpAnswer,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if head.len() > 64 * 1024 {
            return write_answer(
                stream,
                &gateway_message(431, "Request Header Fields Too Large"),
            );
        }
    }
    let mut parsed_headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut parsed_headers);
    if !matches!(parsed.parse(&head), Ok(httparse::Status::Complete(_))) {
        return write_answer(stream, &gateway_message(400, "Bad Request"));
    }
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    // API Gateway's payload limit is 10 MB.
    if length > 10 * 1024 * 1024 {
        return write_answer(stream, &gateway_message(413, "Request Too Long"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = HttpRequest {
        method: parsed.method.unwrap_or_default().to_owned(),
        target: parsed.path.unwrap_or("/").to_owned(),
        headers,
        body,
        source_ip: source_ip.to_owned(),
    };
    let answer = answer(&request, request_id);
    write_answer(stream, &answer)
}

fn write_answer(mut stream: TcpStream, answer: &HttpAnswer) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", answer.status, reason(answer.status));
    for (k, v) in &answer.headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        answer.body.len()
    ));
    stream.write_all(out.as_bytes())?;
    stream.write_all(&answer.body)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> RestApi {
        RestApi {
            logical_id: "ApprovalPagesApi".into(),
            stage: "approvals".into(),
            methods: vec![
                RestMethod {
                    http_method: "GET".into(),
                    resource: "/{id}".into(),
                    function: "F".into(),
                },
                RestMethod {
                    http_method: "POST".into(),
                    resource: "/{id}".into(),
                    function: "F".into(),
                },
            ],
        }
    }

    fn request(method: &str, target: &str, body: &[u8]) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            target: target.into(),
            headers: vec![
                ("Host".into(), "127.0.0.1:9".into()),
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: body.to_vec(),
            source_ip: "127.0.0.1".into(),
        }
    }

    #[test]
    fn a_request_to_a_method_of_the_stage_becomes_the_rest_proxy_event() {
        let (function, e) = proxy_event(
            &api(),
            &request("POST", "/approvals/abc?x=1", b"decision=approve"),
            "r1",
        )
        .unwrap();
        assert_eq!(function, "F");
        assert_eq!(e["resource"], "/{id}");
        assert_eq!(e["path"], "/abc");
        assert_eq!(e["requestContext"]["path"], "/approvals/abc");
        assert_eq!(e["requestContext"]["stage"], "approvals");
        assert_eq!(e["pathParameters"], json!({"id": "abc"}));
        assert_eq!(e["queryStringParameters"], json!({"x": "1"}));
        assert_eq!(
            e["multiValueHeaders"]["Content-Type"],
            json!(["application/x-www-form-urlencoded"])
        );
        assert_eq!(e["body"], "decision=approve");
        assert_eq!(e["isBase64Encoded"], false);
        // lambda_http, as handle-approval runs it, reads it as API Gateway's
        // REST event: the stage in the path, the id as a path parameter.
        use lambda_http::RequestExt;
        let parsed = lambda_http::request::from_str(&e.to_string()).unwrap();
        assert!(matches!(
            parsed.request_context_ref(),
            Some(lambda_http::request::RequestContext::ApiGatewayV1(_))
        ));
        assert_eq!(parsed.uri().path(), "/approvals/abc");
        assert_eq!(
            parsed.path_parameters_ref().and_then(|p| p.first("id")),
            Some("abc")
        );
        assert_eq!(parsed.method(), "POST");
        assert_eq!(parsed.body().as_ref(), b"decision=approve");
    }

    #[test]
    fn what_the_api_does_not_define_gets_no_event() {
        let a = api();
        for (method, target) in [
            ("GET", "/approvals/abc/more"),
            ("GET", "/approvals/"),
            ("GET", "/other/abc"),
            ("PUT", "/approvals/abc"),
            ("GET", "/approvalsabc"),
        ] {
            assert!(
                proxy_event(&a, &request(method, target, b""), "r").is_none(),
                "{method} {target}"
            );
        }
    }

    #[test]
    fn the_functions_proxy_answer_becomes_http_and_a_malformed_one_is_a_502() {
        let a = proxy_answer(Invocation::Ok(json!({
            "statusCode": 303,
            "headers": {"location": "/approvals/abc", "x": "single"},
            "multiValueHeaders": {"x": ["one", "two"]},
            "body": "", "isBase64Encoded": false
        })));
        assert_eq!(a.status, 303);
        assert!(
            a.headers
                .contains(&("location".into(), "/approvals/abc".into()))
        );
        assert_eq!(a.headers.iter().filter(|(k, _)| k == "x").count(), 3);
        assert_eq!(
            proxy_answer(Invocation::Ok(json!({"body": "no status"}))).status,
            502
        );
        assert_eq!(
            proxy_answer(Invocation::Err {
                error_type: "Panic".into(),
                message: String::new()
            })
            .status,
            502
        );
        let b64 = proxy_answer(Invocation::Ok(
            json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}),
        ));
        assert_eq!(b64.body, b"hi");
    }
}
