#!/usr/bin/env python3
"""moto server with what this project's paths need and moto lacks.

    python scripts/moto_ext.py -H 127.0.0.1 -p PORT

Started by scripts/with-moto in place of `moto_server`. It adds:

- SageMaker UpdateEndpoint: the endpoint moves to the new endpoint config (its
  variants and data capture), `LastDeploymentConfig` records the deployment
  policy it was given, and DescribeEndpoint shows both. As on AWS, it refuses
  an endpoint that does not exist, a config that does not exist, and an
  endpoint that is not InService (ValidationException).
- SageMaker CreateModel refuses a name that exists, as AWS does
  ("Cannot create already existing model", ValidationException); moto
  replaces the model silently, which would hide a retry meeting its own model.
- A retried `.waitForTaskToken` task gets a new token for each attempt, as
  on AWS (each attempt is a new TaskScheduled). moto makes the token once per
  state, so the first attempt's SendTaskFailure also failed every retry.
- An optimised SageMaker task (`arn:aws:states:::sagemaker:createModel`) that
  SageMaker refuses fails as on AWS: `SageMaker.AmazonSageMakerException`,
  the message and error code in the Cause, a Catch-able task failure (moto
  raised `States.Runtime`).
- An AWS SDK integration task (`arn:aws:states:::aws-sdk:...`) that the service
  refuses fails as Step Functions documents: `<Service>.<error code>`, with
  `Exception` appended where the code lacks it (`SageMaker.ThrottlingException`,
  `SageMaker.InternalFailureException`); moto named every error after the
  service alone.
- SageMaker CreateModel refuses an image of this account's ECR that is not
  there, as AWS does ("Requested image <uri> not found.", ValidationException),
  when moto holds that repository, whether the container names the image or
  a registry version that does; moto accepted any image.
- POST /moto-api/extension/ecr/apply-lifecycle with {"region", "repository"}:
  runs the repository's lifecycle policy now, as ECR does within a day: rules
  in priority order, each selecting by tagStatus and tagPrefixList (all
  prefixes matched by some tag) or tagPatternList, counting newest first
  (imageCountMoreThan) or by age (sinceImagePushed); an image that matches a
  higher priority rule's selection is never expired by a lower one. Answers
  the expired digests. moto stores the policy but never applies it.
- An AWS SDK task's parameters and answer are PascalCase whatever the
  service's own casing, as Step Functions documents (ECR's API is camelCase);
  moto passed the parameters to boto3 as written.
- SageMaker CreateModelPackage honours ClientToken: a retry with the token of
  a call that succeeded answers that call's version instead of a second one.
- POST /moto-api/extension/lose-next-answer with {"region", "action"}: the next call of
  that action (`sagemaker:CreateModelPackage`, `UpdateModelPackage`,
  `DescribeModelPackage`, `DescribeTrainingJob`, `DeleteEndpointConfig`,
  `DeleteModel`; `application-autoscaling:RegisterScalableTarget`,
  `DeregisterScalableTarget`, `PutScalingPolicy`) is carried out, then
  answered with InternalFailure (InternalServiceException for Application
  Auto Scaling), as when its answer is lost on the way back.
- SageMaker's own limits on the registry calls moto does not check:
  ApprovalDescription (1024 characters, one line) and metadata values (256
  characters of a restricted set) in CreateModelPackage and UpdateModelPackage.
- The registry's ModelLifeCycle (Stage, StageStatus, StageDescription), which
  moto lacks: CreateModelPackage and UpdateModelPackage take it, checked as
  the API reference declares it (Stage and StageStatus required, 1-63 of
  letters, digits and inner hyphens; StageDescription at most 1024
  characters, one line); DescribeModelPackage and ListModelPackages' summaries
  answer it. UpdateModelPackage changes only what it is given, as on AWS:
  moto cleared the approval status and its description when a call left
  them out (a life-cycle update would have un-approved a version).
- IAM as AWS evaluates it where moto differs: a DynamoDB transaction is
  authorized by its items' actions (AWS has no TransactWriteItems
  permission); a statement's `dynamodb:LeadingKeys` condition holds for
  every partition key the request touches (moto ignores conditions); a
  query-protocol body is signed as sent (see below).
- POST /moto-api/extension/sagemaker/endpoint-status with
  {"region", "endpointName", "status", "failureReason"}: the tests put an
  endpoint into a state SageMaker would reach on its own (Failed, Updating,
  RollingBack), which moto's endpoints never leave InService for.
- POST /moto-api/extension/sns/fail-first-publish with {"region", "approver"}: the
  first message published with that `approver` attribute fails (InternalError,
  HTTP 500), and so does every retry of the same message; a different message
  to them goes out (a send that fails partway, then a retry with new links).
- POST /moto-api/extension/logs/sagemaker-group with {"region", "name",
  "create"}: makes a job's log group as SageMaker does at the job's first log
  line (when "create"), and answers its retention (the path tests read what
  the run set).
- POST /moto-api/extension/autoscaling/targets with {"region"}: the SageMaker
  scalable targets and their policies (Application Auto Scaling itself is
  held to its API reference: see autoscaling_as_on_aws).
- SageMaker keeps CreateModel's EnableNetworkIsolation and answers it in
  DescribeModel, and CreateEndpointConfig refuses a serverless variant whose
  model is network-isolated, or any serverless config with data capture:
  serverless inference supports neither (SageMaker guide, "Serverless
  Inference", feature exclusions). moto dropped the flag and took both.
- POST /moto-api/extension/sagemaker/refuse-next-approval: the next
  UpdateModelPackage to Approved fails (a path that must reject the version).

With MOTO_EXT_ADMIN_KEYS=FILE it also turns on moto's IAM access control:
it makes a user `test-admin` allowed everything, writes its access key and
secret to FILE (for the tests' own setup), and signs moto's own internal calls
(the Step Functions interpreter calling SQS, SNS, SageMaker) with it, since
those go through the server too. Every other caller then needs an IAM user's
keys and a policy that grants what it does.

CloudFormation's differences are in moto_cfn.py, installed with these.

Everything else is moto's own server, unchanged.
"""
import json
import os
import re
import sys

from moto import server
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.moto_api._internal import urls as moto_api_urls
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult


def update_endpoint(self, endpoint_name, endpoint_config_name, deployment_config):
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(endpoint_config_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    if endpoint.endpoint_status != "InService":
        raise ValidationError(
            message=f"Cannot update in-progress endpoint '{endpoint.arn}'."
            if endpoint.endpoint_status in ("Creating", "Updating", "SystemUpdating", "RollingBack")
            else f"Cannot update endpoint '{endpoint.arn}' in status {endpoint.endpoint_status}."
        )
    # SageMaker refuses to turn an instance-based endpoint serverless
    # (docs: "Update a serverless endpoint").
    was_serverless = any("CurrentServerlessConfig" in v for v in endpoint.production_variants)
    if not was_serverless and any("ServerlessConfig" in v for v in config.production_variants):
        raise ValidationError(
            message="Updating a real-time inference endpoint to a serverless endpoint is not supported."
        )
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
    endpoint.data_capture_config = config.data_capture_config
    endpoint.last_deployment_config = deployment_config
    endpoint.last_modified_time = utcnow()
    return endpoint


def update_endpoint_response(self):
    endpoint = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        deployment_config=self._get_param("DeploymentConfig"),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


original_response_object = FakeEndpoint.response_object


def response_object_with_deployment(self):
    response = original_response_object.fget(self)
    deployment = getattr(self, "last_deployment_config", None)
    if deployment:
        response["LastDeploymentConfig"] = deployment
    if getattr(self, "failure_reason", None):
        response["FailureReason"] = self.failure_reason
    return response


def endpoint_status(request, full_url, headers) -> TYPE_RESPONSE:
    """Puts an endpoint into a status of the test's choosing."""
    if request.method != "POST":
        return 405, {}, json.dumps({"Error": "POST"})
    body = json.loads(request.data.decode() or "{}")
    backend = sagemaker_backends[body.get("account", DEFAULT_ACCOUNT_ID)][body.get("region", "us-east-1")]
    endpoint = backend.endpoints.get(body.get("endpointName", ""))
    if endpoint is None:
        return 404, {}, json.dumps({"Error": f"no endpoint {body.get('endpointName')!r}"})
    endpoint.endpoint_status = body["status"]
    endpoint.failure_reason = body.get("failureReason")
    return 200, {}, json.dumps({"status": "ok"})


def keep_raw_form_bodies():
    """moto checks a signature over the body it re-encodes from the parsed
    form ('+' for a space), so a query-protocol call from an SDK that encodes
    a space as %20 (the Rust SDK) fails with SignatureDoesNotMatch. Keep the
    bytes as they came, which is what AWS signs."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.setup_class

    def setup_class(self, request, full_url, headers, use_raw_body=None):
        raw = None
        if getattr(request, "mimetype", "") == "application/x-www-form-urlencoded" and hasattr(request, "get_data"):
            raw = request.get_data(cache=True, parse_form_data=False)
        original(self, request, full_url, headers, use_raw_body)
        if raw and not self.raw_body:
            self.raw_body = raw

    BaseResponse.setup_class = setup_class

    # A request without a body (a GET, as the REST-JSON services send) is
    # signed over an empty payload; moto signed its parsed query string as the
    # body instead, so every such call from the Rust SDK failed its signature.
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    original_request = IAMRequestBase._create_aws_request

    def create_aws_request(self):
        request = original_request(self)
        if not self._body:
            request.data = b""
        return request

    IAMRequestBase._create_aws_request = create_aws_request


def authorize_transactions_per_item():
    """AWS has no dynamodb:TransactWriteItems / TransactGetItems permission: a
    transaction is authorized by the actions of its items (PutItem, UpdateItem,
    DeleteItem, ConditionCheckItem, GetItem). moto checks the operation's own
    name, which no correct policy grants; check the items' actions instead."""
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase.check_action_permitted
    per_item = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}

    def check_action_permitted(self, resource):
        if self._action not in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
            return original(self, resource)
        body = self._body or b"{}"
        items = json.loads(body.decode() if isinstance(body, bytes) else body).get("TransactItems", [])
        actions = sorted({f"dynamodb:{per_item[kind]}" for item in items for kind in item if kind in per_item})
        transaction = self._action
        try:
            for action in actions or [transaction]:
                self._action = action
                original(self, resource)
        finally:
            self._action = transaction

    IAMRequestBase.check_action_permitted = check_action_permitted


def _request_partition_keys(action, body):
    """(action, partition key) for each item a DynamoDB request touches: the
    table's partition key is `pk` (shared::keys::PK)."""
    def pk_of(key_or_item):
        value = (key_or_item or {}).get("pk") or {}
        return value.get("S")

    per_item = {"Put": ("PutItem", "Item"), "Update": ("UpdateItem", "Key"), "Delete": ("DeleteItem", "Key"),
                "ConditionCheck": ("ConditionCheckItem", "Key"), "Get": ("GetItem", "Key")}
    name = action.split(":", 1)[1]
    out = []
    if name in ("TransactWriteItems", "TransactGetItems"):
        for item in body.get("TransactItems", []):
            for kind, (item_action, field) in per_item.items():
                if kind in item:
                    out.append((f"dynamodb:{item_action}", pk_of(item[kind].get(field))))
    elif name in ("GetItem", "DeleteItem", "UpdateItem"):
        out.append((action, pk_of(body.get("Key"))))
    elif name == "PutItem":
        out.append((action, pk_of(body.get("Item"))))
    elif name == "Query":
        import re
        names = body.get("ExpressionAttributeNames") or {}
        values = body.get("ExpressionAttributeValues") or {}
        for left, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", body.get("KeyConditionExpression", "")):
            if names.get(left, left) == "pk":
                out.append((action, (values.get(placeholder) or {}).get("S")))
    return out


def _leading_keys_hold(condition, key):
    """A statement's dynamodb:LeadingKeys condition, for one partition key."""
    import fnmatch
    for operator, values in (condition or {}).items():
        patterns = values.get("dynamodb:LeadingKeys")
        if patterns is None:
            continue
        patterns = patterns if isinstance(patterns, list) else [patterns]
        like = operator.endswith("StringLike")
        if key is None or not any(fnmatch.fnmatchcase(key, p) if like else key == p for p in patterns):
            return False
    return True


def enforce_leading_keys():
    """AWS evaluates a statement's `dynamodb:LeadingKeys` condition against
    every partition key the request touches; moto ignores conditions. Checked
    after moto's own action check: some Allow statement must match the action,
    the resource and its condition, for each key."""
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, IAMRequestBase

    original = IAMRequestBase.check_action_permitted

    def check_action_permitted(self, resource):
        original(self, resource)
        if not self._action.startswith("dynamodb:"):
            return
        body = self._body or b"{}"
        try:
            request = json.loads(body.decode() if isinstance(body, bytes) else body)
        except ValueError:
            return
        statements = []
        for policy in self._access_key.collect_policies():
            document = IAMPolicy(policy)._policy_json["Statement"]
            statements += document if isinstance(document, list) else [document]
        for action, key in _request_partition_keys(self._action, request):
            if not any(
                st.get("Effect") == "Allow"
                and IAMPolicyStatement(st)._check_element_matches("Action", action)
                and IAMPolicyStatement(st)._check_element_matches("Resource", resource)
                and _leading_keys_hold(st.get("Condition"), key)
                for st in statements
            ):
                transaction = self._action
                self._action = action
                try:
                    self._raise_access_denied()
                finally:
                    self._action = transaction

    IAMRequestBase.check_action_permitted = check_action_permitted


def _metadata_value_ok(value):
    """CustomerMetadataValue: 1-256 of letters, separators, numbers, _ . : / = + - @."""
    import unicodedata
    return 1 <= len(value) <= 256 and all(
        unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in value
    )


REFUSE_NEXT_APPROVAL = []


def refuse_next_approval(request, full_url, headers):
    """The next UpdateModelPackage to Approved fails, as SageMaker may refuse one."""
    REFUSE_NEXT_APPROVAL.append(True)
    return 200, {}, json.dumps({"status": "ok"})


LIFE_CYCLE_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def _life_cycle_refused(life_cycle):
    """Why SageMaker would refuse this ModelLifeCycle, or None."""
    if not isinstance(life_cycle, dict):
        return "Value at 'modelLifeCycle' failed to satisfy constraint: Member must be a structure"
    for field, member in (("Stage", "stage"), ("StageStatus", "stageStatus")):
        value = life_cycle.get(field)
        if not isinstance(value, str) or not LIFE_CYCLE_NAME.fullmatch(value):
            return (
                f"Value at 'modelLifeCycle.{member}' failed to satisfy constraint: Member must not be null, "
                "have length between 1 and 63 and match pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
            )
    description = life_cycle.get("StageDescription")
    if description is not None and (len(description) > 1024 or "\n" in description or "\r" in description):
        return (
            "Value at 'modelLifeCycle.stageDescription' failed to satisfy constraint: "
            "Member must have length less than or equal to 1024 and match pattern .{0,1024}"
        )
    return None


def keep_model_life_cycle():
    """ModelLifeCycle on CreateModelPackage and UpdateModelPackage, answered
    by DescribeModelPackage and in ListModelPackages' summaries."""
    from moto.sagemaker.models import ModelPackage
    from moto.sagemaker.responses import SageMakerResponse

    def taking(original, arn_of):
        def handler(self):
            life_cycle = self._get_param("ModelLifeCycle")
            if life_cycle is not None:
                refused = _life_cycle_refused(life_cycle)
                if refused:
                    raise ValidationError(message=f"1 validation error detected: {refused}")
            answer = original(self)
            if life_cycle is not None:
                package = self.sagemaker_backend.describe_model_package(arn_of(self, answer))
                package.model_life_cycle = {
                    k: life_cycle[k] for k in ("Stage", "StageStatus", "StageDescription") if k in life_cycle
                }
            return answer
        return handler

    def created_arn(self, answer):
        return answer.result["ModelPackageArn"]

    # AWS changes only what an UpdateModelPackage call gives; moto cleared the
    # approval status, its description and the metadata a call left out.
    def only_what_is_given(original):
        def handler(self):
            try:
                package = self.sagemaker_backend.describe_model_package(self._get_param("ModelPackageArn"))
            except ValidationError:
                package = None
            kept = package and {
                "ModelApprovalStatus": ("model_approval_status", package.model_approval_status),
                "ApprovalDescription": ("approval_description", package.approval_description),
                # Kept unless given (CustomerMetadataPropertiesToRemove is how a call drops one).
                "CustomerMetadataProperties": (
                    "customer_metadata_properties",
                    dict(package.customer_metadata_properties or {}),
                ),
            }
            answer = original(self)
            for param, (attribute, value) in (kept or {}).items():
                if self._get_param(param) is None:
                    if param == "CustomerMetadataProperties":
                        for name in self._get_param("CustomerMetadataPropertiesToRemove") or []:
                            value.pop(name, None)
                    setattr(package, attribute, value)
            return answer
        return handler

    SageMakerResponse.create_model_package = taking(SageMakerResponse.create_model_package, created_arn)
    SageMakerResponse.update_model_package = taking(
        only_what_is_given(SageMakerResponse.update_model_package),
        lambda self, _answer: self._get_param("ModelPackageArn"),
    )
    described = ModelPackage.gen_response_object

    def with_life_cycle(self):
        response = described(self)
        life_cycle = getattr(self, "model_life_cycle", None)
        if life_cycle:
            response["ModelLifeCycle"] = dict(life_cycle)
        return response

    ModelPackage.gen_response_object = with_life_cycle


def validate_model_package_requests():
    """SageMaker refuses what its model declares and moto accepts: an
    ApprovalDescription over 1024 characters or with a line break (pattern
    `.*`), a metadata value over 256 characters or outside
    [\\p{L}\\p{Z}\\p{N}_.:/=+-@]. moto stores them; so did the pipeline's
    registry calls, until a person's long comment failed MarkApproved on AWS."""
    from moto.sagemaker.responses import SageMakerResponse

    def checked(original):
        def handler(self):
            if self._get_param("ModelApprovalStatus") == "Approved" and REFUSE_NEXT_APPROVAL:
                REFUSE_NEXT_APPROVAL.pop()
                raise ValidationError(message="refused by the test (moto-api/extension/sagemaker/refuse-next-approval)")
            description = self._get_param("ApprovalDescription")
            if description is not None and (len(description) > 1024 or "\n" in description or "\r" in description):
                raise ValidationError(
                    message="1 validation error detected: Value at 'approvalDescription' failed to satisfy constraint: "
                    "Member must have length less than or equal to 1024 and match pattern .*"
                )
            for key, value in (self._get_param("CustomerMetadataProperties") or {}).items():
                if not _metadata_value_ok(value):
                    raise ValidationError(
                        message=f"1 validation error detected: Value at 'customerMetadataProperties.{key}' failed to satisfy "
                        "constraint: Member must have length less than or equal to 256 and match pattern "
                        "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)"
                    )
            return original(self)
        return handler

    SageMakerResponse.update_model_package = checked(SageMakerResponse.update_model_package)
    SageMakerResponse.create_model_package = checked(SageMakerResponse.create_model_package)
    registry_retries_as_on_aws()


FAIL_FIRST_PUBLISH = {}  # (region, approver) -> the message that fails (None: the next one); each test has its region


def fail_first_publish(request, full_url, headers):
    body = json.loads(request.data.decode() or "{}")
    FAIL_FIRST_PUBLISH[(body["region"], body["approver"])] = None
    return 200, {}, json.dumps({"status": "ok"})


def failing_publishes():
    from moto.sns.exceptions import SNSException
    from moto.sns.models import SNSBackend

    class PublishFailed(SNSException):
        code = "InternalError"

        def __init__(self):
            super().__init__("fault injected by the test (moto-api/extension/sns/fail-first-publish)")

    original = SNSBackend.publish

    def publish(self, message, *args, **kwargs):
        attributes = kwargs.get("message_attributes") or {}
        approver = attributes.get("approver")
        if isinstance(approver, dict):
            approver = approver.get("Value") or approver.get("StringValue")
        key = (self.region_name, approver)
        if key in FAIL_FIRST_PUBLISH:
            if FAIL_FIRST_PUBLISH[key] is None:
                FAIL_FIRST_PUBLISH[key] = message
            if FAIL_FIRST_PUBLISH[key] == message:
                raise PublishFailed()
        return original(self, message, *args, **kwargs)

    SNSBackend.publish = publish


def aws_sdk_parameters_as_on_aws():
    """Step Functions takes an AWS SDK task's parameters in PascalCase and
    answers in PascalCase whatever the service's own casing (ECR's API is
    camelCase: repositoryName, imageIds); moto passed them to boto3 as written."""
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    session = botocore.session.get_session()
    operations = {}

    def operation(task, boto_service_name, service_action_name):
        service = task._get_boto_service_name(boto_service_name)
        action = service_action_name or str(task.resource.api_action)
        key = (service, action)
        if key not in operations:
            operations[key] = session.get_service_model(service).operation_model(action[:1].upper() + action[1:])
        return operations[key]

    def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        shape = operation(self, boto_service_name, service_action_name).input_shape
        if shape is not None:
            self._to_boto_request(parameters, shape)

    def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
        shape = operation(self, boto_service_name, service_action_name).output_shape
        if shape is not None:
            self._from_boto_response(response, shape)

    StateTaskServiceAwsSdk._normalise_parameters = _normalise_parameters
    StateTaskServiceAwsSdk._normalise_response = _normalise_response
    # Step Functions names CloudWatch Logs `cloudwatchlogs` (aws-sdk:cloudwatchlogs:…); boto3 names it `logs`.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService

    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES["cloudwatchlogs"] = "logs"
    # …and Application Auto Scaling `applicationautoscaling`, which boto3 names `application-autoscaling`.
    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES["applicationautoscaling"] = "application-autoscaling"


def aws_sdk_errors_as_documented():
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    pascal = {"sagemaker": "SageMaker", "dynamodb": "DynamoDb", "sfn": "Sfn", "s3": "S3", "ecr": "Ecr", "cloudwatchlogs": "CloudWatchLogs", "applicationautoscaling": "ApplicationAutoScaling"}
    original = StateTaskServiceAwsSdk._from_error

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError):
            service = str(self.resource.api_name)  # arn:aws:states:::aws-sdk:<service>:<action>
            name = pascal.get(service.lower(), service[:1].upper() + service[1:])
            code = ex.response.get("Error", {}).get("Code") or "Unknown"
            error = f"{name}.{code}" if code.endswith("Exception") else f"{name}.{code}Exception"
            message = ex.response.get("Error", {}).get("Message", "")
            return self._get_task_failure_event(env=env, error=error, cause=f"{message} (Service: {name}; Error Code: {code})")
        return original(self, env, ex)

    StateTaskServiceAwsSdk._from_error = _from_error


CLIENT_TOKENS = {}  # (account, region, token) -> the version's ARN
LOSE_NEXT_ANSWER = set()  # (region, "service:Action"); each test has its region


def lose_next_answer(request, full_url, headers):
    body = json.loads(request.data.decode() or "{}")
    LOSE_NEXT_ANSWER.add((body["region"], body["action"]))
    return 200, {}, json.dumps({"status": "ok"})


def registry_retries_as_on_aws():
    from moto.sagemaker.exceptions import SagemakerClientError
    from moto.sagemaker.responses import SageMakerResponse

    class InternalFailure(SagemakerClientError):
        def __init__(self):
            super().__init__("InternalFailure", "the answer was lost (fault injected by the test: moto-api/extension/lose-next-answer)")

    original_create = SageMakerModelBackend.create_model_package

    def create_model_package(self, *args, **kwargs):
        token = kwargs.get("client_token")
        key = (self.account_id, self.region_name, token)
        if token and key in CLIENT_TOKENS:
            return CLIENT_TOKENS[key]
        arn = original_create(self, *args, **kwargs)
        if token:
            CLIENT_TOKENS[key] = arn
        return arn

    SageMakerModelBackend.create_model_package = create_model_package

    def losing(action, original, lost=InternalFailure):
        def handler(self):
            answer = original(self)
            if (self.region, action) in LOSE_NEXT_ANSWER:
                LOSE_NEXT_ANSWER.discard((self.region, action))
                raise lost()
            return answer
        return handler

    SageMakerResponse.create_model_package = losing("sagemaker:CreateModelPackage", SageMakerResponse.create_model_package)
    SageMakerResponse.update_model_package = losing("sagemaker:UpdateModelPackage", SageMakerResponse.update_model_package)
    SageMakerResponse.describe_model_package = losing("sagemaker:DescribeModelPackage", SageMakerResponse.describe_model_package)
    SageMakerResponse.describe_training_job = losing("sagemaker:DescribeTrainingJob", SageMakerResponse.describe_training_job)
    SageMakerResponse.delete_endpoint_config = losing("sagemaker:DeleteEndpointConfig", SageMakerResponse.delete_endpoint_config)
    SageMakerResponse.delete_model = losing("sagemaker:DeleteModel", SageMakerResponse.delete_model)

    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
    from moto.core.exceptions import JsonRESTError

    class InternalService(JsonRESTError):
        def __init__(self):
            super().__init__("InternalServiceException", "the answer was lost (fault injected by the test: moto-api/extension/lose-next-answer)")

    for name, action in [
        ("register_scalable_target", "application-autoscaling:RegisterScalableTarget"),
        ("deregister_scalable_target", "application-autoscaling:DeregisterScalableTarget"),
        ("put_scaling_policy", "application-autoscaling:PutScalingPolicy"),
    ]:
        setattr(ApplicationAutoScalingResponse, name, losing(action, getattr(ApplicationAutoScalingResponse, name), InternalService))


def ecr_image_missing(account, region, image):
    """Whether `image` names this account's ECR in `region`, in a repository
    moto holds, by a tag or digest that repository does not have."""
    from moto.ecr.models import ecr_backends

    match = re.match(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)([:@])(.+)$", image or "")
    if not match or match.group(1) != account or match.group(2) != region:
        return False
    repository = ecr_backends[account][region].repositories.get(match.group(3))
    if repository is None:
        return False
    by_digest, ref = match.group(4) == "@", match.group(5)
    return not any((i.get_image_digest() == ref) if by_digest else (ref in i.image_tags) for i in repository.images)


def refuse_existing_models():
    original = SageMakerModelBackend.create_model

    def create_model(self, model_name, *args, **kwargs):
        if model_name in self._models:
            raise ValidationError(message=f'Cannot create already existing model "{self._models[model_name].arn}".')
        primary = kwargs.get("primary_container") or (args[1] if len(args) > 1 else None) or {}
        containers = [primary] + list(kwargs.get("containers") or [])
        images = []
        for container in containers:
            container = container or {}
            images.append(container.get("Image"))
            # A model made from a registry version runs the version's images.
            package = self.model_packages.get(container.get("ModelPackageName") or "")
            if package is not None:
                spec = package.inference_specification or {}
                images.extend(c.get("Image") for c in spec.get("Containers", []))
        for image in images:
            if ecr_image_missing(self.account_id, self.region_name, image):
                raise ValidationError(message=f"Requested image {image} not found.")
        return original(self, model_name, *args, **kwargs)

    SageMakerModelBackend.create_model = create_model


def serverless_as_on_aws():
    original_create = SageMakerResponse.create_model

    def create_model(self):
        answer = original_create(self)
        model = self.sagemaker_backend._models.get(self._get_param("ModelName"))
        if model is not None:
            model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation"))
        return answer

    original_config = SageMakerModelBackend.create_endpoint_config

    def create_endpoint_config(self, endpoint_config_name, production_variants, data_capture_config, *args, **kwargs):
        for variant in production_variants or []:
            if "ServerlessConfig" not in variant:
                continue
            model = self._models.get(variant.get("ModelName"))
            if model is not None and model.enable_network_isolation:
                raise ValidationError(
                    message=f"Network isolation is not supported for serverless inference: model {model.model_name} has EnableNetworkIsolation."
                )
            if data_capture_config:
                raise ValidationError(message="DataCaptureConfig is not supported for serverless inference.")
        return original_config(self, endpoint_config_name, production_variants, data_capture_config, *args, **kwargs)

    SageMakerResponse.create_model = create_model
    SageMakerModelBackend.create_endpoint_config = create_endpoint_config


def fresh_token_per_attempt():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    original = StateTaskServiceCallback._eval_execution

    def _eval_execution(self, env):
        state = env.states.context_object.context_object_data.get("State") or {}
        waits = self.resource.condition == ResourceCondition.WaitForTaskToken
        if state.get("RetryCount", 0) > 0 and waits:
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        token = (env.states.context_object.context_object_data.get("Task") or {}).get("Token")
        try:
            return original(self, env)
        finally:
            # The attempt is over, answered or failed: as on AWS its token is
            # dead (SendTask* with it is InvalidToken), where moto kept it.
            if waits and token:
                env.callback_pool_manager._pool.pop(token, None)

    StateTaskServiceCallback._eval_execution = _eval_execution


def forget_endpoint_results(request, full_url, headers):
    """Forgets the answers moto's SageMaker Runtime kept for a region's
    endpoints, so that a later model behind one answers from the queue again
    (a new version deployed to the same endpoint)."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    body = json.loads(request.data.decode() or "{}")
    backend = sagemakerruntime_backends[body.get("account", DEFAULT_ACCOUNT_ID)][body["region"]]
    backend.results.pop(body["endpoint"], None)
    # moto's server does not read the endpoint's name from the path: it keeps
    # every endpoint's answers under None, which is forgotten too.
    backend.results.pop(None, None)
    return 200, {}, "{}"


def task_failures_keep_their_cause():
    """SendTaskFailure's cause reaches the task's failure, as on AWS: moto's
    handler passed on the error alone, so a Catch read an empty Cause (a
    person's rejection, a function's named error and its message)."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self):
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure


def sagemaker_task_failures_as_on_aws():
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (
        StateTaskServiceUnsupported,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTaskServiceUnsupported._from_error

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError) and self._get_boto_service_name() == "sagemaker":
            error = "SageMaker.AmazonSageMakerException"
            meta = ex.response.get("ResponseMetadata", {})
            cause = (
                f"{ex.response['Error'].get('Message', '')} (Service: AmazonSageMaker; "
                f"Status Code: {meta.get('HTTPStatusCode', 400)}; Error Code: {ex.response['Error'].get('Code', '')}; "
                f"Request ID: {meta.get('RequestId', '')})"
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=error,
                        cause=cause,
                    )
                ),
            )
        return original(self, env, ex)

    StateTaskServiceUnsupported._from_error = _from_error


def autoscaling_as_on_aws():
    """Application Auto Scaling as its API reference says, where moto is
    looser: a SageMaker variant can be registered only while its endpoint
    exists; a policy needs a registered target (ObjectNotFoundException);
    deregistering a target that is not there is ObjectNotFoundException, not
    a ValidationException, and deletes the target's policies with it."""
    from moto.applicationautoscaling.exceptions import AWSValidationException
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends

    class ObjectNotFound(JsonRESTError):
        def __init__(self, message):
            super().__init__("ObjectNotFoundException", message)

    register = ApplicationAutoscalingBackend.register_scalable_target
    deregister = ApplicationAutoscalingBackend.deregister_scalable_target
    put_policy = ApplicationAutoscalingBackend.put_scaling_policy

    def register_scalable_target(self, namespace, r_id, dimension, min_capacity, max_capacity, role_arn, suspended_state):
        if namespace == "sagemaker":
            parts = r_id.split("/")  # endpoint/<name>/variant/<variant>
            endpoints = sagemaker_backends[self.account_id][self.region_name].endpoints
            if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant" or parts[1] not in endpoints:
                raise AWSValidationException(f"The endpoint of {r_id} does not exist")
        if min_capacity is not None and max_capacity is not None and int(min_capacity) > int(max_capacity):
            raise AWSValidationException("Minimum capacity cannot be greater than maximum capacity")
        return register(self, namespace, r_id, dimension, min_capacity, max_capacity, role_arn, suspended_state)

    def deregister_scalable_target(self, namespace, r_id, dimension):
        if not self._scalable_target_exists(r_id, dimension):
            raise ObjectNotFound(f"No scalable target registered for service namespace: {namespace}, resource ID: {r_id}, scalable dimension: {dimension}")
        for key in [k for k, p in self.policies.items() if p.resource_id == r_id and p.scalable_dimension == dimension]:
            del self.policies[key]
        return deregister(self, namespace, r_id, dimension)

    def put_scaling_policy(self, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type):
        if not self._scalable_target_exists(resource_id, scalable_dimension):
            raise ObjectNotFound(f"No scalable target registered for service namespace: {service_namespace}, resource ID: {resource_id}, scalable dimension: {scalable_dimension}")
        return put_policy(self, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type)

    ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target
    ApplicationAutoscalingBackend.deregister_scalable_target = deregister_scalable_target
    ApplicationAutoscalingBackend.put_scaling_policy = put_scaling_policy


def autoscaling_targets(request, full_url, headers):
    """The region's SageMaker scalable targets and their policies, for the path tests."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    body = json.loads(request.data.decode() or "{}")
    backend = applicationautoscaling_backends[body.get("account", DEFAULT_ACCOUNT_ID)][body["region"]]
    targets = []
    for by_id in backend.targets.values():
        for t in by_id.values():
            if t.service_namespace != "sagemaker":
                continue
            policies = [
                {"name": p.policy_name, "type": p.policy_type, "configuration": p.target_tracking_scaling_policy_configuration}
                for p in backend.policies.values()
                if p.resource_id == t.resource_id and p.scalable_dimension == t.scalable_dimension
            ]
            targets.append({"resourceId": t.resource_id, "dimension": t.scalable_dimension, "min": t.min_capacity, "max": t.max_capacity, "policies": policies})
    return 200, {"Content-Type": "application/json"}, json.dumps({"targets": targets})


def sagemaker_log_group(request, full_url, headers):
    """What SageMaker does at a job's first log line: makes its account-wide
    log group (/aws/sagemaker/TrainingJobs…) if it is not there, with no
    retention. Answers the group's retention (null for none)."""
    from moto.logs.models import logs_backends

    body = json.loads(request.data.decode() or "{}")
    backend = logs_backends[body.get("account", DEFAULT_ACCOUNT_ID)][body["region"]]
    name = body["name"]
    if body.get("create") and name not in backend.groups:
        backend.create_log_group(name, {})
    group = backend.groups.get(name)
    answer = {"exists": group is not None, "retentionInDays": getattr(group, "retention_in_days", None) if group else None}
    return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def ecr_apply_lifecycle(request, full_url, headers):
    import fnmatch
    import time

    from moto.ecr.models import ecr_backends

    body = json.loads(request.data.decode() or "{}")
    repository = ecr_backends[body.get("account", DEFAULT_ACCOUNT_ID)][body["region"]].repositories[body["repository"]]
    rules = sorted(json.loads(repository.lifecycle_policy or '{"rules": []}')["rules"], key=lambda r: r["rulePriority"])
    # Newest first; moto stamps pushes in whole seconds, so ties keep the push order.
    images = [i for _, i in sorted(enumerate(repository.images), key=lambda p: (p[1].image_pushed_at, p[0]), reverse=True)]

    def selects(rule, image):
        selection = rule["selection"]
        status = selection["tagStatus"]
        if status == "any":
            return True
        if status == "untagged":
            return not image.image_tags
        prefixes = selection.get("tagPrefixList", [])
        patterns = selection.get("tagPatternList", [])
        return bool(image.image_tags) and all(any(t.startswith(p) for t in image.image_tags) for p in prefixes) and all(
            any(fnmatch.fnmatchcase(t, p) for t in image.image_tags) for p in patterns
        )

    expired = []
    for n, rule in enumerate(rules):
        selection = rule["selection"]
        selected = [i for i in images if selects(rule, i)]
        if selection["countType"] == "imageCountMoreThan":
            candidates = selected[selection["countNumber"] :]
        else:  # sinceImagePushed, in days
            cutoff = time.time() - selection["countNumber"] * 86400
            candidates = [i for i in selected if i.image_pushed_at < cutoff]
        for image in candidates:
            if image not in expired and not any(selects(higher, image) for higher in rules[:n]):
                expired.append(image)
    for image in expired:
        repository.images.remove(image)
    return 200, {}, json.dumps({"expired": [i.get_image_digest() for i in expired]})


def install():
    import moto_cfn

    moto_cfn.install()
    refuse_existing_models()
    serverless_as_on_aws()
    aws_sdk_errors_as_documented()
    aws_sdk_parameters_as_on_aws()
    autoscaling_as_on_aws()
    failing_publishes()
    sagemaker_task_failures_as_on_aws()
    task_failures_keep_their_cause()
    fresh_token_per_attempt()
    keep_raw_form_bodies()
    validate_model_package_requests()
    keep_model_life_cycle()
    authorize_transactions_per_item()
    enforce_leading_keys()
    SageMakerModelBackend.update_endpoint = update_endpoint
    SageMakerResponse.update_endpoint = update_endpoint_response
    FakeEndpoint.response_object = property(response_object_with_deployment)
    moto_api_urls.url_paths["{0}/moto-api/extension/sagemaker/endpoint-status"] = endpoint_status
    moto_api_urls.url_paths["{0}/moto-api/extension/sagemaker/refuse-next-approval"] = refuse_next_approval
    moto_api_urls.url_paths["{0}/moto-api/extension/sagemaker/forget-endpoint-results"] = forget_endpoint_results
    moto_api_urls.url_paths["{0}/moto-api/extension/sns/fail-first-publish"] = fail_first_publish
    moto_api_urls.url_paths["{0}/moto-api/extension/lose-next-answer"] = lose_next_answer
    moto_api_urls.url_paths["{0}/moto-api/extension/ecr/apply-lifecycle"] = ecr_apply_lifecycle
    moto_api_urls.url_paths["{0}/moto-api/extension/logs/sagemaker-group"] = sagemaker_log_group
    moto_api_urls.url_paths["{0}/moto-api/extension/autoscaling/targets"] = autoscaling_targets


def enforce_iam(keys_file):
    from moto import settings
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user(region_name="us-east-1", user_name="test-admin", path="/")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy("test-admin", "everything", json.dumps(everything))
    key = iam.create_access_key("test-admin")
    os.environ["AWS_ACCESS_KEY_ID"] = key.access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = key.secret_access_key
    os.environ.pop("AWS_SESSION_TOKEN", None)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    # The interpreter signs its calls with fixed dummy keys ("ak"); sign them as the administrator.
    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client

    class Boto3AsAdmin:
        @staticmethod
        def client(**kwargs):
            kwargs["aws_access_key_id"] = key.access_key_id
            kwargs["aws_secret_access_key"] = key.secret_access_key
            return boto3.client(**kwargs)

    boto_client.boto3 = Boto3AsAdmin
    with open(keys_file, "w") as f:
        f.write(f"{key.access_key_id} {key.secret_access_key}\n")


if __name__ == "__main__":
    install()
    if os.environ.get("MOTO_EXT_ADMIN_KEYS"):
        enforce_iam(os.environ["MOTO_EXT_ADMIN_KEYS"])
    server.main(sys.argv[1:])
