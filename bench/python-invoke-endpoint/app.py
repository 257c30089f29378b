"""make bench: invoke-endpoint's Python equivalent, for the cold/warm comparison.

What a team would write in Python for the same job, on Lambda's Python
runtime interface client (awslambdaric) with boto3: read the API's JSON body,
check the row (the same rules and status codes as the Rust function), call
SageMaker Runtime's InvokeEndpoint with text/csv, answer {"result": ...}.
The client is made at import time, as Lambda's guidance says.
"""
import json
import os

import boto3

RUNTIME = boto3.client("sagemaker-runtime")
ENDPOINT = os.environ["ENDPOINT_NAME"]
FEATURES = int(os.environ.get("FEATURE_COUNT", "4"))


def answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event, _context):
    try:
        body = json.loads(event.get("body") or "")
    except ValueError:
        return answer(400, {"error": "the body is not JSON"})
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, str) or not data.strip():
        return answer(400, {"error": "`data` must be a non-empty string"})
    fields = data.strip().split(",")
    if len(fields) != FEATURES:
        return answer(422, {"error": f"the row has {len(fields)} fields; the model takes {FEATURES}"})
    try:
        [float(f) for f in fields]
    except ValueError:
        return answer(422, {"error": "every field must be a number"})
    reply = RUNTIME.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=data.strip())
    return answer(200, {"result": reply["Body"].read().decode().strip()})
