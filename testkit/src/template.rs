//! template.yaml as CloudFormation sees it: the SAM transform's output
//! (`scripts/sam_translate.py`, aws-sam-translator itself), with its
//! intrinsic functions resolved against a world of physical names.
//!
//! One source for the tests: the parameter defaults, each function's
//! environment and IAM policy, and the state machine's substitutions are all
//! read from here, never from a second list.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The account and region of every test world (moto's default account).
pub const ACCOUNT: &str = "123456789012";
pub const PARTITION: &str = "aws";

/// The translated template.
#[derive(Debug)]
pub struct Template {
    pub json: Value,
}

impl Template {
    /// Translates template.yaml once per test process (a second or two of Python).
    pub fn load() -> Result<&'static Template, String> {
        static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();
        TEMPLATE
            .get_or_init(|| {
                let root = crate::workspace_root();
                let out = std::env::temp_dir().join(format!(
                    "translated-{}-{}.json",
                    std::process::id(),
                    crate::unique("t")
                ));
                let output = std::process::Command::new(root.join(".venv/bin/python"))
                    .arg(root.join("scripts/sam_translate.py"))
                    .arg(&out)
                    .current_dir(&root)
                    .output()
                    .map_err(|e| {
                        format!("cannot run scripts/sam_translate.py (make setup): {e}")
                    })?;
                if !output.status.success() {
                    return Err(format!(
                        "the SAM transform failed:\n{}",
                        String::from_utf8_lossy(&output.stderr)
                    ));
                }
                let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
                let _ = std::fs::remove_file(&out);
                let json = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                Ok(Template { json })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn resources(&self) -> &Map<String, Value> {
        static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
        self.json["Resources"]
            .as_object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    pub fn resource(&self, id: &str) -> Result<&Value, String> {
        self.resources()
            .get(id)
            .ok_or_else(|| format!("template.yaml has no resource {id}"))
    }

    /// Every parameter's default, as text (as DefinitionSubstitutions passes it).
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(params) = self.json["Parameters"].as_object() {
            for (name, p) in params {
                let text = match &p["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                out.insert(name.clone(), text);
            }
        }
        out
    }

    /// The names of the `Rules` that refuse these parameter values over the
    /// defaults, as CloudFormation evaluates them before it creates or
    /// updates anything.
    pub fn refused_by(&self, overrides: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let mut parameters = self.parameter_defaults();
        for (name, value) in overrides {
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        let mut refused = Vec::new();
        let Some(rules) = self.json["Rules"].as_object() else {
            return Ok(refused);
        };
        for (name, rule) in rules {
            let applies = match rule.get("RuleCondition") {
                Some(condition) => rule_value(condition, &parameters)? == Value::Bool(true),
                None => true,
            };
            let mut holds = true;
            for a in rule["Assertions"]
                .as_array()
                .ok_or(format!("{name}: no Assertions"))?
            {
                holds &= rule_value(&a["Assert"], &parameters)? == Value::Bool(true);
            }
            if applies && !holds {
                refused.push(name.clone());
            }
        }
        Ok(refused)
    }

    /// The functions: (logical id, binary), from `Metadata.BuildProperties.Binary`.
    pub fn functions(&self) -> Vec<(String, String)> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
            .filter_map(|(id, r)| {
                r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .map(|b| (id.clone(), b.to_owned()))
            })
            .collect()
    }

    /// The logical id of the function built from `binary`.
    pub fn function_id(&self, binary: &str) -> Result<String, String> {
        self.functions()
            .into_iter()
            .find(|(_, b)| b == binary)
            .map(|(id, _)| id)
            .ok_or_else(|| format!("template.yaml builds no function from {binary}"))
    }
}

/// A resource's physical identity: what `Ref` answers and its attributes.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// Resolves intrinsic functions against parameter values and physical names.
#[derive(Debug, Clone)]
pub struct Resolver<'a> {
    template: &'a Template,
    pub region: String,
    pub stack: String,
    pub parameters: BTreeMap<String, String>,
    pub physical: BTreeMap<String, Physical>,
    /// The version number every `AWS::Lambda::Version` has in this world
    /// (AutoPublishAlias publishes one per deploy that changes a function).
    pub version: u32,
}

impl<'a> Resolver<'a> {
    /// The template's defaults, and physical names derived from the logical ids
    /// (`stack-LogicalId`) wherever `physical` does not name one.
    pub fn new(template: &'a Template, region: &str) -> Resolver<'a> {
        Resolver {
            template,
            region: region.to_owned(),
            stack: "stack".to_owned(),
            parameters: template.parameter_defaults(),
            physical: BTreeMap::new(),
            version: 1,
        }
    }

    /// A resource of the template this world resolves.
    pub fn template_resource(&self, id: &str) -> Result<&'a Value, String> {
        self.template.resource(id)
    }

    /// The same world under another stack name.
    pub fn with_stack(mut self, stack: &str) -> Self {
        self.stack = stack.to_owned();
        self
    }

    pub fn with_parameter(mut self, name: &str, value: &str) -> Self {
        self.parameters.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Resolves every intrinsic in `value`; `AWS::NoValue` entries disappear.
    pub fn resolve(&self, value: &Value) -> Result<Value, String> {
        Ok(self.eval(value)?.unwrap_or(Value::Null))
    }

    /// Resolves to text.
    pub fn text(&self, value: &Value) -> Result<String, String> {
        match self.resolve(value)? {
            Value::String(s) => Ok(s),
            other => Ok(other.to_string()),
        }
    }

    /// Whether a named condition holds.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        let cond = self
            .template
            .json
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| format!("no condition {name}"))?;
        self.truth(cond)
    }

    fn truth(&self, value: &Value) -> Result<bool, String> {
        let Some((key, args)) = single(value) else {
            return match value {
                Value::Bool(b) => Ok(*b),
                Value::String(s) => Ok(s == "true"),
                other => Err(format!("not a condition: {other}")),
            };
        };
        let list = |n: usize| -> Result<&Vec<Value>, String> {
            args.as_array()
                .filter(|a| n == 0 || a.len() == n)
                .ok_or_else(|| format!("{key} takes a list"))
        };
        match key {
            "Condition" => self.condition(args.as_str().unwrap_or_default()),
            "Fn::Equals" => {
                let a = list(2)?;
                Ok(self.resolve(&a[0])? == self.resolve(&a[1])?)
            }
            "Fn::Not" => Ok(!self.truth(&list(1)?[0])?),
            "Fn::And" => list(0)?
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.truth(c)?)),
            "Fn::Or" => list(0)?
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.truth(c)?)),
            other => Err(format!("unsupported condition function {other}")),
        }
    }

    /// `None` is `AWS::NoValue`.
    fn eval(&self, value: &Value) -> Result<Option<Value>, String> {
        if let Some((key, args)) = single(value)
            && (key == "Ref" || key.starts_with("Fn::"))
        {
            return self.intrinsic(key, args);
        }
        match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(v) = self.eval(item)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.eval(v)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn intrinsic(&self, key: &str, args: &Value) -> Result<Option<Value>, String> {
        let list = || {
            args.as_array()
                .ok_or_else(|| format!("{key} takes a list, got {args}"))
        };
        match key {
            "Ref" => {
                let name = args.as_str().ok_or("Ref takes a name")?;
                if name == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(name).map(|s| Some(Value::String(s)))
            }
            "Fn::GetAtt" => {
                let (id, attr) = match args {
                    Value::Array(a) if a.len() == 2 => (
                        a[0].as_str().unwrap_or_default().to_owned(),
                        self.text(&a[1])?,
                    ),
                    Value::String(s) => {
                        let (id, attr) = s.split_once('.').ok_or("GetAtt X.Attr")?;
                        (id.to_owned(), attr.to_owned())
                    }
                    other => return Err(format!("bad GetAtt {other}")),
                };
                self.attribute(&id, &attr).map(|s| Some(Value::String(s)))
            }
            "Fn::Sub" => {
                let (text, vars) = match args {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(a) if a.len() == 2 => (
                        a[0].as_str().unwrap_or_default().to_owned(),
                        a[1].as_object().cloned().unwrap_or_default(),
                    ),
                    other => return Err(format!("bad Sub {other}")),
                };
                let mut local = BTreeMap::new();
                for (k, v) in &vars {
                    local.insert(k.clone(), self.text(v)?);
                }
                self.substitute(&text, &local)
                    .map(|s| Some(Value::String(s)))
            }
            "Fn::Join" => {
                let a = list()?;
                let sep = a.first().and_then(Value::as_str).unwrap_or_default();
                let items = self.resolve(a.get(1).unwrap_or(&Value::Null))?;
                let parts: Vec<String> = items
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Some(Value::String(parts.join(sep))))
            }
            "Fn::If" => {
                let a = list()?;
                let cond = a
                    .first()
                    .and_then(Value::as_str)
                    .ok_or("If needs a condition")?;
                let branch = if self.condition(cond)? { 1 } else { 2 };
                self.eval(a.get(branch).ok_or("If needs two branches")?)
            }
            "Fn::Select" => {
                let a = list()?;
                let index: usize = self.text(&a[0])?.parse().map_err(|_| "Select index")?;
                let items = self.resolve(&a[1])?;
                items
                    .get(index)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| format!("Select {index} out of range"))
            }
            "Fn::FindInMap" => {
                let a = list()?;
                let keys: Vec<String> = a.iter().map(|k| self.text(k)).collect::<Result<_, _>>()?;
                let [map, top, second] = keys.as_slice() else {
                    return Err("FindInMap takes three keys".into());
                };
                // A string or a list, as CloudFormation answers; other values as text.
                match &self.template.json["Mappings"][map][top][second] {
                    Value::Null => Err(format!("FindInMap {map}.{top}.{second}: no such entry")),
                    v @ (Value::String(_) | Value::Array(_)) => Ok(Some(v.clone())),
                    v => Ok(Some(Value::String(v.to_string()))),
                }
            }
            "Fn::Split" => {
                let a = list()?;
                let sep = a[0].as_str().unwrap_or_default();
                let text = self.text(&a[1])?;
                Ok(Some(json!(text.split(sep).collect::<Vec<_>>())))
            }
            other => Err(format!("unsupported intrinsic {other}")),
        }
    }

    fn substitute(&self, text: &str, local: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or("unterminated ${ in Sub")?;
            let name = &rest[start + 2..start + end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = local.get(name) {
                out.push_str(v);
            } else if let Some((id, attr)) = name.split_once('.') {
                if id == "AWS" {
                    out.push_str(&self.reference(name)?);
                } else {
                    out.push_str(&self.attribute(id, attr)?);
                }
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// CloudFormation's form: the stack's name, then a version-1 UUID whose
    /// first group (the low bits of its creation time) differs per stack: here
    /// derived from the stack's name, so two stacks of one test differ.
    pub fn stack_id(&self) -> String {
        // FNV-1a, 32 bits: enough to tell a test's stacks apart.
        let low = self.stack.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        format!(
            "arn:aws:cloudformation:{}:{ACCOUNT}:stack/{}/{low:08x}-9a3b-11f0-8de9-0a1b2c3d4e5f",
            self.region, self.stack
        )
    }

    /// The stack's token, as the template derives `NAME_TOKEN` from its id.
    pub fn token(&self) -> shared::naming::StackToken {
        let id = self.stack_id();
        let uuid = id.rsplit('/').next().unwrap_or_default();
        shared::naming::StackToken::parse(uuid.split('-').next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{id}: {e}"))
    }

    /// What `Ref` answers: a pseudo parameter, a parameter, or a resource.
    pub fn reference(&self, name: &str) -> Result<String, String> {
        match name {
            "AWS::Partition" => return Ok(PARTITION.to_owned()),
            "AWS::Region" => return Ok(self.region.clone()),
            "AWS::AccountId" => return Ok(ACCOUNT.to_owned()),
            "AWS::StackName" => return Ok(self.stack.clone()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            "AWS::StackId" => return Ok(self.stack_id()),
            _ => {}
        }
        if let Some(p) = self.parameters.get(name) {
            return Ok(p.clone());
        }
        Ok(self.physical(name)?.reference)
    }

    pub fn attribute(&self, id: &str, attr: &str) -> Result<String, String> {
        let p = self.physical(id)?;
        p.attributes
            .get(attr)
            .cloned()
            .ok_or_else(|| format!("{id} has no attribute {attr} in this world"))
    }

    /// The physical identity of a resource: from the world where it names one,
    /// else derived from its type, its name property, and the logical id.
    pub fn physical(&self, id: &str) -> Result<Physical, String> {
        if let Some(p) = self.physical.get(id) {
            return Ok(p.clone());
        }
        let resource = self.template.resource(id)?;
        let props = &resource["Properties"];
        let named = |key: &str| -> Result<Option<String>, String> {
            match props.get(key) {
                Some(v) => self.text(v).map(Some),
                None => Ok(None),
            }
        };
        let (r, a) = (self.region.as_str(), ACCOUNT);
        let default_name = format!("{}-{id}", self.stack);
        let ty = resource["Type"].as_str().unwrap_or_default();
        let mut attributes = BTreeMap::new();
        let reference = match ty {
            "AWS::DynamoDB::Table" => {
                let name = named("TableName")?.unwrap_or(default_name);
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:dynamodb:{r}:{a}:table/{name}"),
                );
                name
            }
            "AWS::SNS::Topic" => {
                let name = named("TopicName")?.unwrap_or(default_name);
                attributes.insert("TopicName".into(), name.clone());
                let arn = format!("arn:aws:sns:{r}:{a}:{name}");
                attributes.insert("TopicArn".into(), arn.clone());
                arn
            }
            "AWS::S3::Bucket" => {
                let name = named("BucketName")?.unwrap_or(default_name.to_lowercase());
                attributes.insert("Arn".into(), format!("arn:aws:s3:::{name}"));
                name
            }
            "AWS::SQS::Queue" => {
                let name = named("QueueName")?.unwrap_or(default_name);
                attributes.insert("QueueName".into(), name.clone());
                attributes.insert("Arn".into(), format!("arn:aws:sqs:{r}:{a}:{name}"));
                format!("https://sqs.{r}.amazonaws.com/{a}/{name}")
            }
            "AWS::Lambda::Function" => {
                let name = named("FunctionName")?.unwrap_or(default_name);
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:lambda:{r}:{a}:function:{name}"),
                );
                name
            }
            "AWS::Lambda::Version" => {
                // Ref is the version's ARN: the function's, qualified by its number.
                let function = self.text(&props["FunctionName"])?;
                let arn = format!(
                    "arn:aws:lambda:{r}:{a}:function:{function}:{}",
                    self.version
                );
                attributes.insert("Version".into(), self.version.to_string());
                arn
            }
            "AWS::Lambda::Alias" => {
                let function = self.text(&props["FunctionName"])?;
                let name = self.text(&props["Name"])?;
                format!("arn:aws:lambda:{r}:{a}:function:{function}:{name}")
            }
            "AWS::StepFunctions::StateMachine" => {
                let name = named("StateMachineName")?.unwrap_or(default_name);
                attributes.insert("Name".into(), name.clone());
                let arn = format!("arn:aws:states:{r}:{a}:stateMachine:{name}");
                attributes.insert("Arn".into(), arn.clone());
                arn
            }
            "AWS::IAM::Role" => {
                let name = named("RoleName")?.unwrap_or(default_name);
                attributes.insert("Arn".into(), format!("arn:aws:iam::{a}:role/{name}"));
                name
            }
            "AWS::KMS::Key" => {
                attributes.insert("Arn".into(), format!("arn:aws:kms:{r}:{a}:key/{id}"));
                id.to_owned()
            }
            "AWS::ECR::Repository" => {
                let name = named("RepositoryName")?.unwrap_or(default_name.to_lowercase());
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:ecr:{r}:{a}:repository/{name}"),
                );
                attributes.insert(
                    "RepositoryUri".into(),
                    format!("{a}.dkr.ecr.{r}.amazonaws.com/{name}"),
                );
                name
            }
            "AWS::CloudWatch::Alarm" => {
                let name = named("AlarmName")?.unwrap_or(default_name);
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:cloudwatch:{r}:{a}:alarm:{name}"),
                );
                name
            }
            "AWS::Logs::LogGroup" => {
                let name = named("LogGroupName")?.unwrap_or(default_name);
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:logs:{r}:{a}:log-group:{name}:*"),
                );
                name
            }
            "AWS::CodePipeline::Pipeline" => named("Name")?.unwrap_or(default_name),
            "AWS::CodeBuild::Project" => {
                let name = named("Name")?.unwrap_or(default_name);
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:codebuild:{r}:{a}:project/{name}"),
                );
                name
            }
            "AWS::SageMaker::ModelPackageGroup" => {
                let name = named("ModelPackageGroupName")?.unwrap_or(default_name);
                attributes.insert(
                    "ModelPackageGroupArn".into(),
                    format!(
                        "arn:aws:sagemaker:{r}:{a}:model-package-group/{}",
                        name.to_lowercase()
                    ),
                );
                name
            }
            "AWS::ApiGatewayV2::Api" => "api0123456".to_owned(),
            "AWS::ApiGateway::RestApi" => {
                attributes.insert("RootResourceId".into(), "root012345".into());
                "rest012345".to_owned()
            }
            // Ref is the stage's name.
            "AWS::ApiGateway::Stage" => named("StageName")?.unwrap_or(default_name),
            "AWS::WAFv2::WebACL" => {
                let name = named("Name")?.unwrap_or(default_name);
                let scope = named("Scope")?.unwrap_or_default().to_lowercase();
                let acl = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";
                attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:wafv2:{r}:{a}:{scope}/webacl/{name}/{acl}"),
                );
                attributes.insert("Id".into(), acl.into());
                // Ref is name|id|scope.
                format!("{name}|{acl}|{}", scope.to_uppercase())
            }
            _ => default_name,
        };
        Ok(Physical {
            reference,
            attributes,
        })
    }

    /// A function's environment variables, resolved.
    pub fn environment(&self, function_id: &str) -> Result<BTreeMap<String, String>, String> {
        let f = self.template.resource(function_id)?;
        let vars = self.resolve(&f["Properties"]["Environment"]["Variables"])?;
        Ok(text_map(&vars))
    }

    /// Every statement of a role's inline policies, resolved (conditional
    /// statements that do not apply are gone).
    pub fn role_statements(&self, role_id: &str) -> Result<Vec<Statement>, String> {
        let role = self.template.resource(role_id)?;
        let policies = self.resolve(&role["Properties"]["Policies"])?;
        let mut out = Vec::new();
        for policy in policies.as_array().into_iter().flatten() {
            let statements = &policy["PolicyDocument"]["Statement"];
            let statements = match statements {
                Value::Array(a) => a.clone(),
                Value::Object(_) => vec![statements.clone()],
                _ => Vec::new(),
            };
            for s in statements {
                out.push(Statement::from_value(&s));
            }
        }
        Ok(out)
    }

    /// The role a function runs as.
    pub fn function_role(&self, function_id: &str) -> Result<String, String> {
        let f = self.template.resource(function_id)?;
        f["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{function_id}'s role is not a role of this template"))
    }

    /// The state machine's DefinitionSubstitutions, resolved.
    pub fn substitutions(
        &self,
        state_machine_id: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        let sm = self.template.resource(state_machine_id)?;
        let subs = self.resolve(&sm["Properties"]["DefinitionSubstitutions"])?;
        Ok(text_map(&subs))
    }
}

/// One IAM statement, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub has_condition: bool,
    pub json: Value,
}

impl Statement {
    pub fn from_value(s: &Value) -> Statement {
        let strings = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };
        Statement {
            allow: s["Effect"] == "Allow",
            actions: strings(&s["Action"]),
            resources: strings(&s["Resource"]),
            has_condition: s.get("Condition").is_some(),
            json: s.clone(),
        }
    }

    /// Whether this statement allows `action` on `resource` (IAM's `*` and `?`
    /// wildcards; action names are case-insensitive, resources are not).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.allow
            && self
                .actions
                .iter()
                .any(|a| wildcard(&a.to_lowercase(), &action.to_lowercase()))
            && self.resources.iter().any(|r| wildcard(r, resource))
    }
}

impl Statement {
    /// Whether this statement allows `action` on `resource` in a request
    /// whose condition keys have these values: each condition that names one
    /// of them must hold (`StringEquals`, `StringLike`, and their
    /// `ForAllValues:` forms, which a multi-valued key such as
    /// `dynamodb:LeadingKeys` needs); conditions on other keys are not judged.
    pub fn allows_in(&self, action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
        if !self.allows(action, resource) {
            return false;
        }
        let Some(conditions) = self.json["Condition"].as_object() else {
            return true;
        };
        conditions.iter().all(|(operator, keys)| {
            let like = operator.ends_with("StringLike");
            let known = operator.ends_with("StringLike") || operator.ends_with("StringEquals");
            keys.as_object()
                .into_iter()
                .flatten()
                .all(|(key, patterns)| {
                    let patterns: Vec<&str> = match patterns {
                        Value::String(p) => vec![p.as_str()],
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    context
                        .iter()
                        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                        .all(|(_, value)| {
                            known
                                && patterns
                                    .iter()
                                    .any(|p| if like { wildcard(p, value) } else { p == value })
                        })
                })
        })
    }
}

/// Whether `statements` allow `action` on `resource` with these condition values.
pub fn allowed_in(
    statements: &[Statement],
    action: &str,
    resource: &str,
    context: &[(&str, &str)],
) -> bool {
    statements
        .iter()
        .any(|s| s.allows_in(action, resource, context))
}

/// Whether `statements` allow `action` on `resource`.
pub fn allowed(statements: &[Statement], action: &str, resource: &str) -> bool {
    statements.iter().any(|s| s.allows(action, resource))
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A resolved object of names to values, as text (CloudFormation passes numbers as text).
fn text_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// A value of a `Rules` assertion, with the parameters as given (defaults
/// otherwise): the rule-specific intrinsic functions this template uses.
fn rule_value(value: &Value, parameters: &BTreeMap<String, String>) -> Result<Value, String> {
    let Some((name, args)) = value.as_object().and_then(|m| m.iter().next()) else {
        return Ok(value.clone());
    };
    let list = |n: usize| -> Result<Vec<Value>, String> {
        let items = args.as_array().ok_or(format!("{name}: not a list"))?;
        if items.len() < n {
            return Err(format!("{name}: {} arguments", items.len()));
        }
        items.iter().map(|v| rule_value(v, parameters)).collect()
    };
    Ok(match name.as_str() {
        "Ref" => {
            let p = args.as_str().unwrap_or_default();
            Value::String(
                parameters
                    .get(p)
                    .cloned()
                    .ok_or(format!("Ref {p}: no such parameter"))?,
            )
        }
        "Fn::Equals" => {
            let both = list(2)?;
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            Value::Bool(text(&both[0]) == text(&both[1]))
        }
        "Fn::Not" => Value::Bool(!list(1)?[0].as_bool().ok_or("Fn::Not of a non-boolean")?),
        "Fn::And" => Value::Bool(list(1)?.iter().all(|v| v.as_bool() == Some(true))),
        "Fn::Or" => Value::Bool(list(1)?.iter().any(|v| v.as_bool() == Some(true))),
        "Fn::Contains" => {
            let both = list(2)?;
            Value::Bool(
                both[0]
                    .as_array()
                    .is_some_and(|items| items.contains(&both[1])),
            )
        }
        other => return Err(format!("{other}: not a rule function this check knows")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(wildcard("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y"));
        assert!(wildcard("config-*", "config-abc"));
        assert!(!wildcard(
            "arn:aws:s3:::b/models/*",
            "arn:aws:s3:::b/processed/x"
        ));
        assert!(wildcard(
            "sagemaker:Describe*",
            "sagemaker:DescribeEndpoint"
        ));
        assert!(wildcard("a?c", "abc") && !wildcard("a?c", "ac"));
        assert!(wildcard("*", "") && !wildcard("x", ""));
    }
}
