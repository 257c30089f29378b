"""CloudFormation, in moto, closer to what CloudFormation does with this
project's translated template (see moto_ext.py, which installs it).

- Fn::Select takes an index that is itself an intrinsic (a Ref, a
  Fn::FindInMap), and an index outside the list fails the stack, as
  CloudFormation's "Fn::Select cannot select nonexistent value" does; moto
  took the index as a literal integer.
- A state machine's DefinitionS3Location is read from S3 and its
  DefinitionSubstitutions applied, as CloudFormation does; moto read
  DefinitionString only and made an empty machine.
- AWS::Lambda::Version answers Ref (the version's ARN) and
  Fn::GetAtt Version; AWS::Lambda::Alias is made in moto's Lambda.
- A function's environment variables are strings, as Lambda holds them.
- UpdateStack creates and updates in dependency order, then removes what
  the template dropped, keeping what is retained (see updates_as_on_aws).
- A table's SSESpecification (SSEEnabled, KMSMasterKeyId) encrypts it
  with that key, described by the key's ARN.
- A key's KeyPolicy object becomes the JSON document KMS holds, and a
  deleted key is scheduled for deletion (30 days), as CloudFormation does.
- A repository CloudFormation names is lowercase, as ECR requires (moto
  kept the stack's and logical id's capitals, which ECR refuses).
- Fn::FindInMap looks its keys up as strings (a Number parameter's value
  finds the mapping key "2"), and a missing key fails the stack; moto
  looked a number up as a number.
- The other 20 resource types moto's CloudFormation lacks (API Gateway's account
  and stages, the HTTP API, alarms, CodeBuild, CodePipeline, metric
  filters, bucket, topic and queue policies, subscriptions, the model
  package group, the schedule, WAF) are held as CloudFormation holds them:
  a physical id and the attributes the template reads (see RECORDED).
  Nothing here reads their effect; the template tests check their
  properties.
"""

import hashlib
import re

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


def TemplateError(message):
    """CloudFormation's answer to a template it cannot resolve: ValidationError."""
    from moto.cloudformation.exceptions import ValidationError

    return ValidationError(message=message)


def select_as_on_aws():
    original = parsing.clean_json

    def clean_json(resource_json, resources_map):
        if isinstance(resource_json, dict) and "Fn::Select" in resource_json:
            index, values = resource_json["Fn::Select"]
            index = int(clean_json(index, resources_map))
            values = clean_json(values, resources_map)
            if not 0 <= index < len(values):
                raise TemplateError(f"Template error: Fn::Select cannot select nonexistent value at index {index}")
            return values[index]
        if isinstance(resource_json, dict) and "Fn::FindInMap" in resource_json:
            name, *path = resource_json["Fn::FindInMap"]
            found = resources_map[clean_json(name, resources_map)]
            for key in path:
                key = clean_json(key, resources_map)
                key = str(key).lower() if isinstance(key, bool) else str(key)
                if key not in found:
                    raise TemplateError(f"Template error: Unable to get mapping for {name}::{key}")
                found = found[key]
            return found
        return original(resource_json, resources_map)

    parsing.clean_json = clean_json


class Recorded(CloudFormationModel):
    """A resource of a type moto's CloudFormation lacks, held as CloudFormation
    holds it: a physical id (what Ref answers) and the attributes the template
    reads. Subclasses that moto has a service for create the real thing."""

    # moto tracks its models by service, from the module's name.
    __module__ = "moto.cloudformation.recorded"

    TYPE = ""
    ATTRIBUTES = {}

    def __init__(self, logical_id, properties, account_id, region_name):
        self.logical_id = logical_id
        self.properties = properties
        self.account_id = account_id
        self.region_name = region_name
        digest = hashlib.sha256(f"{account_id}{region_name}{logical_id}".encode()).hexdigest()[:12]
        self.physical_resource_id = self.physical_id(digest)

    def physical_id(self, digest):
        return f"{self.logical_id}-{digest}"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def cloudformation_type(cls):
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return self.ATTRIBUTES[attribute_name](self)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        resource = cls(kwargs.get("LogicalId", resource_name), cloudformation_json.get("Properties", {}), account_id, region_name)
        resource.make()
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        original_resource.remove()
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name, LogicalId=original_resource.logical_id)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass

    def delete(self, account_id, region_name):
        # What moto's CloudFormation calls to delete a resource.
        self.remove()

    def is_created(self):
        return True

    def make(self):
        pass

    def remove(self):
        pass


def arn(service, resource):
    return lambda r: f"arn:aws:{service}:{r.region_name}:{r.account_id}:{resource(r)}"


RECORDED = {
    "AWS::ApiGateway::Account": {},
    "AWS::ApiGateway::Stage": {},
    "AWS::ApiGatewayV2::Api": {"ApiEndpoint": lambda r: f"https://{r.physical_resource_id}.execute-api.{r.region_name}.amazonaws.com"},
    "AWS::ApiGatewayV2::Integration": {},
    "AWS::ApiGatewayV2::Route": {},
    "AWS::ApiGatewayV2::Stage": {},
    "AWS::CloudWatch::Alarm": {"Arn": arn("cloudwatch", lambda r: f"alarm:{r.physical_resource_id}")},
    "AWS::CodeBuild::Project": {"Arn": arn("codebuild", lambda r: f"project/{r.physical_resource_id}")},
    "AWS::CodePipeline::Pipeline": {},
    "AWS::Lambda::EventInvokeConfig": {},
    "AWS::Logs::MetricFilter": {},
    "AWS::S3::BucketPolicy": {},
    "AWS::SNS::Subscription": {},
    "AWS::SNS::TopicPolicy": {},
    "AWS::SQS::QueuePolicy": {},
    "AWS::SageMaker::ModelPackageGroup": {"ModelPackageGroupArn": arn("sagemaker", lambda r: f"model-package-group/{r.physical_resource_id}")},
    "AWS::Scheduler::Schedule": {"Arn": arn("scheduler", lambda r: f"schedule/default/{r.physical_resource_id}")},
    "AWS::WAFv2::LoggingConfiguration": {},
    "AWS::WAFv2::WebACL": {"Arn": arn("wafv2", lambda r: f"regional/webacl/{r.physical_resource_id}")},
    "AWS::WAFv2::WebACLAssociation": {},
}


def recorded_types():
    for resource_type, attributes in RECORDED.items():
        if resource_type in parsing.get_model_map():
            continue
        name = "Recorded" + resource_type.replace("AWS::", "").replace("::", "")
        # moto finds models among CloudFormationModel's direct subclasses.
        type(name, (Recorded, CloudFormationModel), {"TYPE": resource_type, "ATTRIBUTES": attributes, "__module__": Recorded.__module__})
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def lowercase_repository_names():
    original = parsing.generate_resource_name

    def generate_resource_name(resource_type, stack_name, logical_id):
        name = original(resource_type, stack_name, logical_id)
        return name.lower() if resource_type == "AWS::ECR::Repository" else name

    parsing.generate_resource_name = generate_resource_name


def properties_first(model, prepare, on_update=False):
    """Runs `prepare(properties, account_id, region_name)` on a resource's
    properties before moto creates it (and updates it, with `on_update`):
    where CloudFormation hands a service a property differently from how
    the template spells it."""
    create, update = model.create_from_cloudformation_json, model.update_from_cloudformation_json

    def created(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        prepare(cloudformation_json["Properties"], account_id, region_name)
        return create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    def updated(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        prepare(cloudformation_json["Properties"], account_id, region_name)
        return update.__func__(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    model.create_from_cloudformation_json = classmethod(created)
    if on_update:
        model.update_from_cloudformation_json = classmethod(updated)


def cfn_string(value):
    """A template scalar as CloudFormation hands it to a string property."""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


def lambda_environments_as_on_aws():
    """A function's environment reaches Lambda as strings (a Number
    parameter's Ref too); moto kept numbers, which Lambda's API never
    answers."""
    from moto.awslambda.models import LambdaFunction

    def stringify(properties, account_id, region_name):
        variables = (properties.get("Environment") or {}).get("Variables")
        if variables:
            properties["Environment"]["Variables"] = {k: cfn_string(v) for k, v in variables.items()}

    properties_first(LambdaFunction, stringify, on_update=True)


def lambda_versions_as_on_aws():
    from moto.awslambda.models import LambdaVersion, get_backend

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        function = get_backend(account_id, region_name).publish_version(properties["FunctionName"])
        version = cls({"Version": str(function.version)})
        version.physical_resource_id = function.function_arn
        return version

    def get_cfn_attribute(self, attribute_name):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Version":
            return self.version
        raise UnformattedGetAttTemplateException()

    LambdaVersion.create_from_cloudformation_json = classmethod(create)
    LambdaVersion.get_cfn_attribute = get_cfn_attribute
    LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")


class Alias(Recorded, CloudFormationModel):
    """A Lambda alias, made in moto's Lambda: Ref answers its ARN."""

    __module__ = Recorded.__module__
    TYPE = "AWS::Lambda::Alias"

    def backend(self):
        from moto.awslambda.models import get_backend

        return get_backend(self.account_id, self.region_name)

    def make(self):
        p = self.properties
        alias = self.backend().create_alias(p["Name"], p["FunctionName"], p["FunctionVersion"], p.get("Description", ""), p.get("RoutingConfig"))
        self.physical_resource_id = alias.arn

    def remove(self):
        from moto.awslambda.exceptions import UnknownFunctionException

        try:
            self.backend().delete_alias(self.properties["Name"], self.properties["FunctionName"])
        except UnknownFunctionException:
            pass  # deleting a function deletes its aliases


def definition_from_s3(properties, account_id):
    """What CloudFormation does with a state machine's DefinitionS3Location
    and DefinitionSubstitutions: the object's text, each `${key}` replaced."""
    from moto.s3.models import s3_backends

    location = properties.pop("DefinitionS3Location", None)
    if location is None:
        return
    stored = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
    definition = stored.value.decode()
    for key, value in (properties.pop("DefinitionSubstitutions", None) or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    properties["DefinitionString"] = definition


def state_machines_from_s3():
    """Also: the stack's state machine lives in the backend the Step
    Functions API answers from. Once a test turns on moto's executing mode
    (`stepfunctions.execute_state_machine`), the API reads the parser's
    backend while moto's CloudFormation still wrote the plain one, so the
    stack's state machine was not there to describe or run."""
    from moto.stepfunctions import models
    from moto.stepfunctions.models import StateMachine

    create, update = StateMachine.create_from_cloudformation_json, StateMachine.update_from_cloudformation_json
    delete_json, delete = StateMachine.delete_from_cloudformation_json, getattr(StateMachine, "delete", None)

    def in_api_backend(call):
        from moto.core.config import default_user_config

        plain = models.stepfunctions_backends
        if default_user_config.get("stepfunctions", {}).get("execute_state_machine", False):
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            models.stepfunctions_backends = stepfunctions_parser_backends
        try:
            return call()
        finally:
            models.stepfunctions_backends = plain

    def created(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        definition_from_s3(cloudformation_json["Properties"], account_id)
        return in_api_backend(lambda: create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs))

    def updated(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        definition_from_s3(cloudformation_json["Properties"], account_id)
        return in_api_backend(lambda: update.__func__(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name))

    def deleted_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return in_api_backend(lambda: delete_json.__func__(cls, resource_name, cloudformation_json, account_id, region_name))

    StateMachine.create_from_cloudformation_json = classmethod(created)
    StateMachine.update_from_cloudformation_json = classmethod(updated)
    StateMachine.delete_from_cloudformation_json = classmethod(deleted_json)
    if delete is not None:
        StateMachine.delete = lambda self, account_id, region_name: in_api_backend(lambda: delete(self, account_id, region_name))


def references(value, names):
    """The resources of `names` a template value names: Ref, Fn::GetAtt and
    ${X} or ${X.Attr} in Fn::Sub."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and inner in names:
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                if target in names:
                    found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    if name.split(".")[0] in names:
                        found.add(name.split(".")[0])
            found |= references(inner, names)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner, names)
    return found


def updates_as_on_aws():
    """UpdateStack in CloudFormation's order: new and changed resources in
    dependency order (a new function version after its function's new code,
    a state machine after the versions it calls), then the clean-up of
    resources the template no longer has, keeping those with
    DeletionPolicy Retain. moto removed first, then added, then modified,
    so a new version was published from the old code."""

    def update(self, template, parameters=None):
        actions = self.build_resource_diff(template, parameters)
        previous = dict(self._resource_json_map)
        self._template = template
        if parameters:
            self.input_parameters = parameters
        self.load_mapping()
        self.load_parameters()
        self.load_conditions()
        self._resource_json_map = template["Resources"]
        pending = {name: "Add" for name in actions["Add"]}
        pending.update({name: "Modify" for name in actions["Modify"]})
        while pending:
            ready = sorted(
                name for name in pending
                if not (references(self._resource_json_map[name], set(pending)) - {name})
            )
            if not ready:
                raise TemplateError(f"Circular dependency between resources: {sorted(pending)}")
            for name in ready:
                if pending.pop(name) == "Add":
                    _ = self[name]
                else:
                    self._parsed_resources[name] = parsing.parse_and_update_resource(
                        name, self._resource_json_map[name], self, account_id=self._account_id, region_name=self._region_name
                    )
        for name in actions["Remove"]:
            resource = self._parsed_resources.pop(name, None)
            if resource is None or previous[name].get("DeletionPolicy") == "Retain":
                continue
            self._delete_resource(resource, previous[name])

    parsing.ResourceMap.update = update


def table_encryption_as_on_aws():
    """AWS::DynamoDB::Table's SSESpecification is the API's, spelt
    SSEEnabled; moto passed it on as written, so the table was described
    as unencrypted. DescribeTable names the key by its ARN, as AWS does."""
    from moto.dynamodb.models.table import Table
    from moto.kms.models import kms_backends

    def encryption(properties, account_id, region_name):
        sse = properties.get("SSESpecification")
        if sse is not None:
            spec = {"Enabled": bool(sse.get("SSEEnabled")), "SSEType": sse.get("SSEType", "KMS")}
            if sse.get("KMSMasterKeyId"):
                key = kms_backends[account_id][region_name].describe_key(sse["KMSMasterKeyId"])
                spec["KMSMasterKeyId"] = key.arn
            properties["SSESpecification"] = spec

    properties_first(Table, encryption)


def key_policies_as_on_aws():
    """AWS::KMS::Key's KeyPolicy is a JSON object in a template and a JSON
    document to KMS; moto kept the object, and then could not read it."""
    import json

    from moto.kms.models import Key

    def policy_document(properties, account_id, region_name):
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])

    properties_first(Key, policy_document)

    def delete(self, account_id, region_name):
        # CloudFormation schedules a deleted key's deletion
        # (PendingWindowInDays, 30 by default); moto deleted it at once.
        window = int(getattr(self, "pending_window_in_days", 30))
        kms_backends_for(account_id, region_name).schedule_key_deletion(self.id, window)

    Key.delete = delete


def kms_backends_for(account_id, region_name):
    from moto.kms.models import kms_backends

    return kms_backends[account_id][region_name]


def install():
    lambda_environments_as_on_aws()
    key_policies_as_on_aws()
    table_encryption_as_on_aws()
    updates_as_on_aws()
    state_machines_from_s3()
    lambda_versions_as_on_aws()
    select_as_on_aws()
    lowercase_repository_names()
    recorded_types()
