#!/usr/bin/env python3
"""The pipeline's story on this machine: what `make local` plays.

Runs inside scripts/local, which has started moto (AWS_ENDPOINT_URL) and
`cargo lambda watch` (LAMBDA_PORT) on 127.0.0.1 and created the table, topics
and buckets (scripts/local_resources.py, its KEY=VALUE lines in the
environment). This script:

  1. uploads the training data; start-retraining (its real binary) starts the
     pipeline once, however often the event comes;
  2. plays the pipeline's build (no Docker here: the image is the local
     iris-model binary) and starts the state machine in moto's executing mode,
     with the input the pipeline's invoke action would pass;
  3. answers the state machine's tasks. moto cannot call a real Lambda or run
     SageMaker jobs, so the local copy of the definition (the real one, with
     each Lambda and .sync Task turned into an SQS waitForTaskToken) hands each
     task to this runner, which calls the real binary with exactly the state's
     input, or trains and transforms with the iris-model binary, and says so;
  4. prints the approval email from moto's SNS and the page's URL, and with
     --yes approves by POSTing the form to handle-approval (real binary);
  5. deploys (deploy-endpoint and check-endpoint, real binaries, against
     moto's SageMaker), then POSTs /predict through invoke-endpoint (real
     binary), whose SageMaker Runtime calls reach the model server.

--check exits non-zero unless the prediction is the expected label (the test).
Every process it starts (the model server) is stopped by PID on any exit.
"""

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
REGION = os.environ.get("AWS_REGION", "us-east-1")
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
LAMBDA = f"http://127.0.0.1:{os.environ['LAMBDA_PORT']}"
MODEL_PORT = int(os.environ["MODEL_PORT"])
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
ENV = os.environ
aws = lambda service: boto3.client(service, region_name=REGION, endpoint_url=ENDPOINT)
s3, sqs, sfn, sns, iam = (aws(s) for s in ("s3", "sqs", "stepfunctions", "sns", "iam"))

children = []
cleanups = []


def stop_children(*_):
    for child in children:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
    children.clear()


def on_signal(signum, _frame):
    stop_children()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

STEP = 0


def step(text):
    global STEP
    STEP += 1
    print(f"\n[{STEP}] {text}", flush=True)


def say(text=""):
    print(f"    {text}", flush=True)


def show(value, limit=600):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def http(method, url, body=None, headers=None, timeout=60):
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def invoke(function, payload):
    """Invokes a function's real binary through cargo lambda watch; (ok, answer)."""
    url = f"{LAMBDA}/2015-03-31/functions/{function}/invocations"
    deadline = time.time() + 120  # the first call starts the binary
    while True:
        status, headers, text = http("POST", url, json.dumps(payload), {"content-type": "application/json"}, 120)
        if status == 404 and time.time() < deadline:
            time.sleep(0.2)
            continue
        break
    answer = json.loads(text) if text else None
    failed = status != 200 or any(k.lower() == "x-amz-function-error" for k in headers)
    return not failed, answer


def s3_parts(uri):
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


# ---------------------------------------------------------------- the state machine, locally

def local_definition(queue_url, values):
    text = (ROOT / "statemachine/pipeline.asl.json").read_text()
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - values.keys())
    if missing:
        raise SystemExit(f"local: no local value for {missing}")
    # moto has no redrive, so no $$.Execution.RedriveCount: a first attempt's count is 0.
    text = text.replace("$$.Execution.RedriveCount", "0")
    definition = json.loads(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text))
    handed = []
    for name, state in definition["States"].items():
        resource = state.get("Resource", "") if state.get("Type") == "Task" else ""
        if ":lambda:invoke" in resource:
            params = state["Parameters"]
            function = params["FunctionName"].rsplit(":", 1)[-1]
            body = {"state": name, "kind": "lambda", "function": function, "payload": params["Payload"]}
            if resource.endswith(".waitForTaskToken"):
                body["kind"] = "callback"  # its payload carries the token; handle-approval answers
            else:
                body["taskToken.$"] = "$$.Task.Token"
        elif resource.endswith(".sync"):
            body = {"state": name, "kind": "sync", "request": state["Parameters"], "taskToken.$": "$$.Task.Token"}
        else:
            continue
        state["Resource"] = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
        state["Parameters"] = {"QueueUrl": queue_url, "MessageBody": body}
        handed.append(name)
    return definition, handed


def create_state_machine(queue_url, endpoint_name, artifact_bucket, approval_timeout):
    function_arn = lambda name: f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
    values = {
        "Partition": "aws",
        "RecordMetadataFunctionArn": function_arn("record-metadata"),
        "CheckEndpointFunctionArn": function_arn("check-endpoint"),
        "DeployEndpointFunctionArn": function_arn("deploy-endpoint"),
        "RequestApprovalFunctionArn": function_arn("request-approval"),
        "SageMakerRoleArn": "arn:aws:iam::123456789012:role/mlops-local-sagemaker",
        "ArtifactBucket": artifact_bucket,
        "QualityMetricName": "validation:accuracy",
        "QualityMetricRegex": "validation:accuracy=([0-9.]+)",
        "QualityThreshold": "0.9",
        "TrainingInstanceType": "ml.m5.large", "TrainingInstanceCount": "1",
        "TrainingVolumeGb": "5", "TrainingMaxSeconds": "600",
        "TransformInstanceType": "ml.m5.large", "TransformInstanceCount": "1", "TransformMaxSeconds": "600",
        "ApprovalTimeoutSeconds": str(approval_timeout),
        "EndpointName": endpoint_name, "EndpointInstanceType": "ml.t2.medium", "EndpointInstanceCount": "1",
        "DeploymentStrategy": "allAtOnce", "DeploymentTrafficPercent": "10", "DeploymentWaitSeconds": "0",
        "EndpointRollbackAlarmName": "mlops-local-endpoint-errors",
        "DataCaptureSamplingPercent": "10",
        "EndpointPollSeconds": "1", "EndpointMaxPolls": "30",
        "ModelPackageGroupName": "mlops-local-models",
        "ProcessingImageUri": "", "ProcessingInstanceType": "ml.m5.large", "ProcessingMaxSeconds": "600",
        "TuningMaxJobs": "0", "TuningParallelJobs": "2", "TuningMaxSeconds": "600",
        "TuningParameterName": "max_depth", "TuningMinValue": "1", "TuningMaxValue": "6",
    }
    definition, handed = local_definition(queue_url, values)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="mlops-local-states", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    arn = sfn.create_state_machine(name="mlops-local-pipeline", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    return arn, handed


# ---------------------------------------------------------------- SageMaker, played locally

class LocalSageMaker:
    """Training and batch transform with the iris-model binary, as SageMaker would run the image."""

    def __init__(self, work):
        self.work = Path(work)
        self.binary = TARGET / "debug" / "iris-model"
        self.server = None

    def train(self, request):
        base = self.work / request["TrainingJobName"]
        data = base / "input/data/training"
        data.mkdir(parents=True)
        (base / "input/config").mkdir(parents=True)
        (base / "input/config/hyperparameters.json").write_text(json.dumps(request.get("HyperParameters") or {}))
        uri = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = s3_parts(uri)
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            if not obj["Key"].endswith("/"):
                s3.download_file(bucket, obj["Key"], str(data / Path(obj["Key"]).name))
        say(f"iris-model train  (SM_BASE_DIR={base}, data from {uri})")
        run = subprocess.run([str(self.binary), "train"], env={**ENV, "SM_BASE_DIR": str(base)},
                             capture_output=True, text=True, timeout=300)
        for line in run.stdout.splitlines():
            say(f"  | {line}")
        if run.returncode != 0:
            reason = (base / "output/failure").read_text() if (base / "output/failure").exists() else run.stderr
            return None, reason
        metrics = []
        for definition in request["AlgorithmSpecification"].get("MetricDefinitions", []):
            found = re.findall(definition["Regex"], run.stdout)
            if found:
                metrics.append({"MetricName": definition["Name"], "Value": float(found[-1]), "Timestamp": time.time()})
        artifacts = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{request['TrainingJobName']}/output/model.tar.gz"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(base / "model", arcname=".")
        s3.put_object(Bucket=s3_parts(artifacts)[0], Key=s3_parts(artifacts)[1], Body=buffer.getvalue())
        say(f"model artifacts uploaded to {artifacts}")
        describe = {
            "TrainingJobName": request["TrainingJobName"],
            "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{request['TrainingJobName']}",
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": artifacts},
            "HyperParameters": request.get("HyperParameters") or {},
        }
        if metrics:
            describe["FinalMetricDataList"] = metrics
        self.start_server(base)
        return describe, None

    def start_server(self, base):
        if self.server:
            return
        self.server = subprocess.Popen([str(self.binary), "serve"],
                                       env={**ENV, "SM_BASE_DIR": str(base), "SERVE_ADDRESS": f"127.0.0.1:{MODEL_PORT}"},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(self.server)
        for _ in range(100):
            try:
                if http("GET", f"http://127.0.0.1:{MODEL_PORT}/ping", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        say(f"model server (iris-model serve) pid {self.server.pid} on 127.0.0.1:{MODEL_PORT}: "
            f"stands in for the endpoint's container")

    def transform(self, request):
        uri = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        out_bucket, out_prefix = s3_parts(request["TransformOutput"]["S3OutputPath"])
        bucket, prefix = s3_parts(uri)
        rows = 0
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            if obj["Key"].endswith("/"):
                continue
            lines = [l for l in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode().splitlines() if l.strip()]
            # DataProcessing: InputFilter $[1:] (drop the label), JoinSource Input.
            assert request["DataProcessing"]["InputFilter"] == "$[1:]"
            features = "\n".join(",".join(l.split(",")[1:]) for l in lines)
            status, _, answer = http("POST", f"http://127.0.0.1:{MODEL_PORT}/invocations", features, {"content-type": "text/csv"})
            if status != 200:
                return None, f"model answered {status}: {answer}"
            joined = "\n".join(f"{l},{p}" for l, p in zip(lines, answer.splitlines())) + "\n"
            key = f"{out_prefix.rstrip('/')}/{Path(obj['Key']).name}.out".lstrip("/")
            s3.put_object(Bucket=out_bucket, Key=key, Body=joined.encode())
            rows += len(lines)
            say(f"{len(lines)} rows of {obj['Key']} → s3://{out_bucket}/{key}")
        return {
            "TransformJobName": request["TransformJobName"],
            "TransformJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:transform-job/{request['TransformJobName']}",
            "TransformJobStatus": "Completed",
            "TransformOutput": request["TransformOutput"],
        }, (None if rows else f"no rows under {uri}")


# ---------------------------------------------------------------- the story

def read_inbox(queue_url, wait=10):
    deadline = time.time() + wait
    while time.time() < deadline:
        got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        if got:
            for m in got:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            return [m["Body"] for m in got]
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yes", action="store_true", help="approve by POSTing the approval form, instead of waiting for you")
    parser.add_argument("--check", action="store_true", help="fail unless the prediction is the expected label")
    args = parser.parse_args()

    data_bucket, artifact_bucket = ENV["DATA_BUCKET"], ENV["ARTIFACT_BUCKET"]
    endpoint_name, pipeline = ENV["ENDPOINT_NAME"], ENV["PIPELINE_NAME"]
    inbox = {n: sqs.get_queue_url(QueueName=f"mlops-local-{n}-inbox")["QueueUrl"] for n in ("approvals", "notifications")}
    tasks_queue = sqs.create_queue(QueueName="mlops-local-state-machine-tasks")["QueueUrl"]
    work = tempfile.mkdtemp(prefix="mlops-story.")
    cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
    sagemaker = LocalSageMaker(work)

    step("Upload the training data (data/iris-train.csv) to the data bucket")
    body = (ROOT / "data/iris-train.csv").read_bytes()
    put = s3.put_object(Bucket=data_bucket, Key="training/iris.csv", Body=body)
    say(f"s3://{data_bucket}/training/iris.csv  version {put['VersionId']}  etag {put['ETag']}")

    step("S3 notifies start-retraining (real binary), twice, as S3 may")
    event = json.loads((ROOT / "events/start-retraining/put.json").read_text())
    record = event["Records"][0]
    record["s3"]["bucket"].update(name=data_bucket, arn=f"arn:aws:s3:::{data_bucket}")
    record["s3"]["object"].update(key="training/iris.csv", size=len(body), eTag=put["ETag"].strip('"'), versionId=put["VersionId"])
    for attempt in (1, 2):
        ok, answer = invoke("start-retraining", event)
        say(f"delivery {attempt}: {show(answer)}")
        if not ok:
            raise SystemExit(f"local: start-retraining failed: {answer}")
    executions = aws("codepipeline").list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    say(f"pipeline {pipeline}: {len(executions)} execution(s): started once")
    if len(executions) != 1:
        raise SystemExit("local: expected exactly one pipeline execution")
    variables = {v["name"]: v["resolvedValue"] for v in
                 aws("codepipeline").get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=executions[0]["pipelineExecutionId"])
                 ["pipelineExecution"].get("variables", [])}
    say(f"pipeline variables: {variables}")

    step("The pipeline's build and invoke actions, played here")
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "local"
    say(f"CodeBuild would build container/ and push iris-model:{commit}; no Docker here, so the image is "
        f"the local iris-model binary ({TARGET / 'debug/iris-model'})")
    execution_input = {
        "commitId": commit,
        "imageUri": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/iris-model:{commit}",
        "trainingDataUri": variables.get("TrainingDataUri", f"s3://{data_bucket}/training/iris.csv"),
        "testDataUri": f"s3://{data_bucket}/test/",
        "dataVersionId": variables.get("DataVersionId", put["VersionId"]),
        "trigger": variables.get("Trigger", "s3"),
    }
    state_machine, handed = create_state_machine(tasks_queue, endpoint_name, artifact_bucket, approval_timeout=3600)
    say(f"state machine (moto, executing mode): the real definition; tasks handed to this runner: {', '.join(handed)}")
    name = f"run-local-{commit}-{time.strftime('%Y%m%dT%H%M%S')}"
    execution = sfn.start_execution(stateMachineArn=state_machine, name=name, input=json.dumps(execution_input))["executionArn"]
    say(f"execution {name}")
    say(f"input {show(execution_input)}")

    approved = False
    while True:
        status = sfn.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            break
        got = sqs.receive_message(QueueUrl=tasks_queue, WaitTimeSeconds=1, MaxNumberOfMessages=1).get("Messages", [])
        if not got:
            continue
        message = got[0]
        sqs.delete_message(QueueUrl=tasks_queue, ReceiptHandle=message["ReceiptHandle"])
        task = json.loads(message["Body"])
        state, kind = task["state"], task["kind"]
        if kind == "sync":
            job = "training job" if state == "Train" else "batch transform"
            step(f"{state}: SageMaker {job}, played by the runner with the iris-model binary")
            describe, failure = (sagemaker.train if state == "Train" else sagemaker.transform)(task["request"])
            if failure:
                say(f"failed: {failure}")
                sfn.send_task_failure(taskToken=task["taskToken"], error="JobFailed", cause=failure)
            else:
                if "FinalMetricDataList" in describe:
                    say(f"metrics: {[(m['MetricName'], m['Value']) for m in describe['FinalMetricDataList']]}")
                sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps(describe))
            continue
        step(f"{state}: {task['function']} (real binary). moto cannot call it, so the runner does, with the state's input")
        say(f"input  {show(task['payload'] if kind == 'lambda' else {**task['payload'], 'taskToken': '<redacted>'})}")
        ok, answer = invoke(task["function"], task["payload"])
        say(f"answer {show(answer)}")
        if kind == "lambda":
            if ok:
                sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"Payload": answer, "StatusCode": 200}))
            else:
                sfn.send_task_failure(taskToken=task["taskToken"], error=answer.get("errorType", "Unknown"),
                                      cause=answer.get("errorMessage", ""))
            continue
        if not ok:
            raise SystemExit(f"local: request-approval failed: {answer}")
        # The approval: the email, the page, the decision.
        step("The approval email, as moto's SNS delivered it")
        emails = read_inbox(inbox["approvals"])
        for email in emails:
            for line in email.splitlines():
                say(f"| {line}")
        link = next((m for e in emails for m in re.findall(r"http://127\.0\.0\.1:\d+/\S+/approvals/[0-9a-f]{32}", e)), None)
        if not link:
            raise SystemExit("local: no approval link in the email")
        status_code, _, page = http("GET", link)
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        say(f"GET {link} → {status_code} {title.group(1).strip() if title else ''} (opening it decides nothing)")
        if args.yes:
            step("Approve (--yes): POST the page's form to handle-approval (real binary)")
            form = urllib.parse.urlencode({"decision": "approve", "approver": "make local --yes", "comment": "approved by the local run"})
            status_code, _, page = http("POST", link, form, {"content-type": "application/x-www-form-urlencoded"})
            title = re.search(r"<title>(.*?)</title>", page, re.S)
            say(f"POST {link} → {status_code} {title.group(1).strip() if title else ''}")
            approved = status_code == 200
        else:
            step(f"Waiting for your decision: open {link} and press Approve or Reject (Ctrl-C stops)")

    step(f"The execution ended: {status}")
    description = sfn.describe_execution(executionArn=execution)
    if status != "SUCCEEDED":
        say(f"error {description.get('error')}: {description.get('cause')}")
        raise SystemExit(1)
    for note in read_inbox(inbox["notifications"], wait=2):
        say(f"notification: {note.splitlines()[0] if note else ''}")

    step("POST /predict through invoke-endpoint (real binary) → SageMaker Runtime → the model server")
    request = {"data": "4.5,1.3,0.3,0.3"}
    status_code, _, answer = http("POST", f"{LAMBDA}/lambda-url/invoke-endpoint/predict", json.dumps(request),
                                  {"content-type": "application/json"})
    say(f"POST /predict {json.dumps(request)} → {status_code} {answer}")

    step("The audit trail (mlops runs show)")
    trail = subprocess.run([str(TARGET / "debug/mlops"), "runs", "show", name], capture_output=True, text=True)
    for line in (trail.stdout or trail.stderr).splitlines()[:100]:
        say(line)

    step("The model registry (mlops models): the version this run registered, with the decision")
    listed = subprocess.run([str(TARGET / "debug/mlops"), "models"], capture_output=True, text=True)
    for line in (listed.stdout or listed.stderr).splitlines()[:10]:
        say(line)

    if args.check:
        result = json.loads(answer).get("result") if status_code == 200 else None
        if "Approved" not in listed.stdout:
            raise SystemExit(f"local: check failed: the run's version is not Approved:\n{listed.stdout}{listed.stderr}")
        if result != "setosa" or not approved:
            raise SystemExit(f"local: check failed: approved={approved}, prediction {status_code} {answer}")
        print("\nlocal: check passed: the story ran end to end and /predict answered setosa")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_children()
        for cleanup in cleanups:
            cleanup()
