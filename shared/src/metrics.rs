//! Business metrics in CloudWatch's Embedded Metric Format (EMF): one JSON
//! line on stdout, which CloudWatch Logs turns into metrics. No API call, no
//! added latency, no permission beyond writing logs.
//!
//! [`ALL`] is the one list of names: the code emits only these, and the
//! template's dashboard and alarms may name only these (testkit's template
//! test checks both). The namespace is `METRICS_NAMESPACE` (the template sets
//! `MLOps/<stack>`), so no dimension is needed to tell stacks apart.
//!
//! Why a small serializer and not a crate: `metrics_cloudwatch_embedded`
//! brings the `metrics` facade, a registry and a background flush for what is
//! here a handful of values per invocation, written once at its end.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The units this pipeline uses, from EMF's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    /// Which function emits it, and when.
    pub about: &'static str,
}

const fn metric(name: &'static str, unit: Unit, about: &'static str) -> Metric {
    Metric { name, unit, about }
}

pub const RUNS_STARTED: Metric = metric(
    "RunsStarted",
    Unit::Count,
    "record-metadata: a run recorded its start",
);
pub const RUNS_DEDUPLICATED: Metric = metric(
    "RunsDeduplicated",
    Unit::Count,
    "start-retraining: an upload already started (or scheduled) a run",
);
pub const RUNS_SUCCEEDED: Metric = metric(
    "RunsSucceeded",
    Unit::Count,
    "record-metadata: a run deployed its version",
);
pub const RUNS_FAILED: Metric = metric(
    "RunsFailed",
    Unit::Count,
    "record-metadata: a run failed (not a gate, rejection or expiry: those have their own)",
);
pub const GATE_VALUE: Metric = metric(
    "GateValue",
    Unit::None,
    "record-metadata: the held-out metric the gate reads, of each evaluated model",
);
pub const GATE_PASSED: Metric = metric(
    "GatePassed",
    Unit::None,
    "record-metadata: 1 if the gate passed, 0 if it stopped the run",
);
pub const APPROVALS_REQUESTED: Metric = metric(
    "ApprovalsRequested",
    Unit::Count,
    "request-approval: an approval email was sent",
);
pub const APPROVALS_APPROVED: Metric = metric(
    "ApprovalsApproved",
    Unit::Count,
    "handle-approval: a person approved",
);
pub const APPROVALS_REJECTED: Metric = metric(
    "ApprovalsRejected",
    Unit::Count,
    "handle-approval: a person rejected",
);
pub const APPROVALS_EXPIRED: Metric = metric(
    "ApprovalsExpired",
    Unit::Count,
    "record-metadata: an approval timed out undecided",
);
pub const APPROVALS_NEAR_DEADLINE: Metric = metric(
    "ApprovalsNearDeadline",
    Unit::Count,
    "record-metadata: an approval is still undecided close to its deadline",
);
pub const TIME_TO_DECIDE: Metric = metric(
    "TimeToDecide",
    Unit::Seconds,
    "handle-approval: from the request to the decision",
);
pub const DEPLOY_DURATION: Metric = metric(
    "DeployDuration",
    Unit::Seconds,
    "record-metadata: from the deploy's start to the endpoint in service",
);
pub const DEPLOYS_SUCCEEDED: Metric = metric(
    "DeploysSucceeded",
    Unit::Count,
    "record-metadata: an endpoint serves the run's version",
);
pub const DEPLOYS_FAILED: Metric = metric(
    "DeploysFailed",
    Unit::Count,
    "record-metadata: a deploy failed or rolled back",
);
pub const ENDPOINT_BUSY: Metric = metric(
    "EndpointBusy",
    Unit::Count,
    "deploy-endpoint: the endpoint was busy, an expected failure the state machine retries (FunctionErrorsAlarm leaves these out)",
);
pub const STAGING_TESTS_FAILED: Metric = metric(
    "StagingTestsFailed",
    Unit::Count,
    "test-staging: the staging endpoint failed its test, an expected answer that stops the promotion (FunctionErrorsAlarm leaves these out; RunsFailed counts the run)",
);
pub const PREDICT_LATENCY: Metric = metric(
    "PredictLatency",
    Unit::Milliseconds,
    "invoke-endpoint: one /predict request, end to end in the function",
);
pub const PREDICT_2XX: Metric = metric("Predict2xx", Unit::Count, "invoke-endpoint: an answer");
pub const PREDICT_4XX: Metric = metric("Predict4xx", Unit::Count, "invoke-endpoint: a bad request");
pub const PREDICT_5XX: Metric = metric(
    "Predict5xx",
    Unit::Count,
    "invoke-endpoint: a failure on our side or the endpoint's",
);
pub const MODEL_ERRORS: Metric = metric(
    "ModelErrors",
    Unit::Count,
    "invoke-endpoint: the model container answered an error",
);

/// Every metric the pipeline emits.
pub const ALL: [Metric; 22] = [
    RUNS_STARTED,
    RUNS_DEDUPLICATED,
    RUNS_SUCCEEDED,
    RUNS_FAILED,
    GATE_VALUE,
    GATE_PASSED,
    APPROVALS_REQUESTED,
    APPROVALS_APPROVED,
    APPROVALS_REJECTED,
    APPROVALS_EXPIRED,
    APPROVALS_NEAR_DEADLINE,
    TIME_TO_DECIDE,
    DEPLOY_DURATION,
    DEPLOYS_SUCCEEDED,
    DEPLOYS_FAILED,
    ENDPOINT_BUSY,
    STAGING_TESTS_FAILED,
    PREDICT_LATENCY,
    PREDICT_2XX,
    PREDICT_4XX,
    PREDICT_5XX,
    MODEL_ERRORS,
];

/// The namespace when `METRICS_NAMESPACE` is unset (a local run).
pub const DEFAULT_NAMESPACE: &str = "MLOps/local";

fn namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    })
}

/// One EMF document: metrics with their values, dimensions, and properties
/// (searchable in Logs Insights, not metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(Metric, f64)>,
    properties: Map<String, Value>,
}

impl Default for Emf {
    fn default() -> Self {
        Self::new()
    }
}

impl Emf {
    /// A document in the pipeline's namespace.
    pub fn new() -> Self {
        Self::in_namespace(namespace())
    }

    pub fn in_namespace(namespace: &str) -> Self {
        Emf {
            namespace: namespace.to_owned(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Map::new(),
        }
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a value; a non-finite one is dropped (JSON has no NaN).
    pub fn put(&mut self, metric: Metric, value: f64) -> &mut Self {
        if value.is_finite() {
            self.metrics.push((metric, value));
        }
        self
    }

    pub fn property(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The document, stamped `timestamp_ms` (epoch milliseconds).
    pub fn to_json(&self, timestamp_ms: u64) -> Value {
        let mut root = self.properties.clone();
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        // A metric put twice is one definition whose member holds every value.
        let mut grouped: Vec<(Metric, Vec<f64>)> = Vec::new();
        for (metric, value) in &self.metrics {
            match grouped.iter_mut().find(|(m, _)| m.name == metric.name) {
                Some((_, values)) => values.push(*value),
                None => grouped.push((*metric, vec![*value])),
            }
        }
        let mut definitions = Vec::new();
        for (metric, values) in grouped {
            let member = match values.as_slice() {
                [one] => number(*one),
                many => Value::Array(many.iter().copied().map(number).collect()),
            };
            root.insert(metric.name.to_owned(), member);
            definitions.push(json!({"Name": metric.name, "Unit": metric.unit.as_str()}));
        }
        let keys: Vec<&str> = self.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [keys],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Writes the document as one line on stdout, if it holds a value.
    pub fn emit(&self) {
        if self.is_empty() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        println!("{}", self.to_json(now));
    }
}

/// A whole value as an integer (`100`, as the specification writes it), else as is.
fn number(value: f64) -> Value {
    // Exact below 2^53, where every whole f64 is an i64.
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)]
        return json!(value as i64);
    }
    json!(value)
}

/// Checks a document against the EMF specification's rules and returns its
/// metric values by name (the values of every directive, in order). For tests,
/// which read the real binaries' lines back: only with the `test-util`
/// feature, which the crates' dev-dependencies turn on, so no Lambda ships it.
#[cfg(any(test, feature = "test-util"))]
pub fn check(document: &Value) -> Result<Vec<(String, f64)>, String> {
    let root = document.as_object().ok_or("the root is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not a non-negative integer")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    let mut values = Vec::new();
    for d in directives {
        let namespace = d["Namespace"]
            .as_str()
            .ok_or("a directive has no Namespace")?;
        if namespace.is_empty() || namespace.len() > 255 {
            return Err(format!("namespace {namespace:?} is not 1-255 characters"));
        }
        let sets = d["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a DimensionSet is not an array")?;
            if set.len() > 30 {
                return Err("a DimensionSet has more than 30 keys".into());
            }
            for key in set {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                if !root.get(key).is_some_and(Value::is_string) {
                    return Err(format!(
                        "dimension {key:?} has no string member on the root"
                    ));
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("Metrics is not an array")?;
        if metrics.len() > 100 {
            return Err("a directive has more than 100 metrics".into());
        }
        for m in metrics {
            let name = m["Name"].as_str().ok_or("a metric has no Name")?;
            if let Some(unit) = m.get("Unit") {
                let unit = unit.as_str().ok_or("a Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}: unit {unit:?} is not one of EMF's"));
                }
            }
            match root.get(name) {
                Some(Value::Number(n)) => {
                    values.push((name.to_owned(), n.as_f64().unwrap_or(f64::NAN)))
                }
                Some(Value::Array(list))
                    if list.len() <= 100 && list.iter().all(Value::is_number) =>
                {
                    values.extend(
                        list.iter()
                            .filter_map(Value::as_f64)
                            .map(|v| (name.to_owned(), v)),
                    );
                }
                _ => return Err(format!("metric {name:?} has no numeric member on the root")),
            }
        }
    }
    Ok(values)
}

/// CloudWatch's units (MetricDatum's `Unit`), which EMF accepts.
#[cfg(any(test, feature = "test-util"))]
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The example document of the EMF specification (CloudWatch user guide,
    /// "Specification: Embedded metric format").
    #[test]
    fn writes_the_specifications_example() {
        let time = Metric {
            name: "time",
            unit: Unit::Milliseconds,
            about: "",
        };
        let mut emf =
            Emf::in_namespace("lambda-function-metrics").dimension("functionVersion", "$LATEST");
        emf.put(time, 100.0)
            .property("requestId", "989ffbf8-9ace-4817-a57c-e4dd734019ee");
        let spec: Value = serde_json::from_str(
            r#"{
              "_aws": {
                "Timestamp": 1574109732004,
                "CloudWatchMetrics": [{
                  "Namespace": "lambda-function-metrics",
                  "Dimensions": [["functionVersion"]],
                  "Metrics": [{"Name": "time", "Unit": "Milliseconds"}]
                }]
              },
              "functionVersion": "$LATEST",
              "time": 100,
              "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
            }"#,
        )
        .unwrap_or_default();
        let ours = emf.to_json(1_574_109_732_004);
        assert_eq!(ours, spec);
        assert_eq!(check(&ours), Ok(vec![("time".to_owned(), 100.0)]));
    }

    #[test]
    fn without_dimensions_the_set_is_one_empty_array() {
        let mut emf = Emf::in_namespace("MLOps/test");
        emf.put(RUNS_STARTED, 1.0);
        let doc = emf.to_json(1);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(check(&doc), Ok(vec![("RunsStarted".to_owned(), 1.0)]));
    }

    #[test]
    fn a_metric_put_twice_is_one_definition_with_an_array() {
        let mut emf = Emf::in_namespace("MLOps/test");
        emf.put(PREDICT_LATENCY, 3.0)
            .put(PREDICT_LATENCY, 5.0)
            .put(PREDICT_LATENCY, 8.5)
            .put(GATE_VALUE, f64::NAN);
        let doc = emf.to_json(1);
        assert_eq!(doc["PredictLatency"], json!([3, 5, 8.5]));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(check(&doc).map(|v| v.len()), Ok(3));
    }

    #[test]
    fn the_check_refuses_what_cloudwatch_would_not_extract() {
        let good = {
            let mut emf = Emf::in_namespace("n").dimension("Stage", "trained");
            emf.put(GATE_VALUE, 0.9);
            emf.to_json(1)
        };
        assert!(check(&good).is_ok());
        for (path, bad) in [
            ("/_aws/Timestamp", json!("now")),
            ("/_aws/CloudWatchMetrics/0/Namespace", json!("")),
            (
                "/_aws/CloudWatchMetrics/0/Metrics/0/Unit",
                json!("Furlongs"),
            ),
            ("/Stage", json!(3)),
            ("/GateValue", json!("0.9")),
        ] {
            let mut doc = good.clone();
            if let Some(v) = doc.pointer_mut(path) {
                *v = bad;
            }
            assert!(check(&doc).is_err(), "{path} accepted");
        }
    }

    #[test]
    fn names_are_unique_and_an_empty_document_is_not_written() {
        let mut names: Vec<_> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(Emf::new().is_empty());
    }
}
