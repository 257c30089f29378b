#!/usr/bin/env python3
"""Creates in the emulator (AWS_ENDPOINT_URL) what template.yaml declares for
the functions: the table, the topics, the buckets with the Iris data, the
pipeline. Prints the functions' environment as KEY=VALUE lines."""
import json, os, pathlib, sys
import boto3

root = pathlib.Path(__file__).resolve().parent.parent
region = os.environ.get("AWS_REGION", "us-east-1")
aws = lambda service: boto3.client(service, region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL"])
prefix = os.environ.get("LOCAL_PREFIX", "mlops-local")

ddb, sns, s3, sqs, iam, cp = (aws(s) for s in ("dynamodb", "sns", "s3", "sqs", "iam", "codepipeline"))

table = f"{prefix}-table"
ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})

topics = {name: sns.create_topic(Name=f"{prefix}-{name}")["TopicArn"] for name in ("approvals", "notifications")}
# An inbox per topic: the local run reads the "emails" from here.
for name, arn in topics.items():
    url = sqs.create_queue(QueueName=f"{prefix}-{name}-inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})

data_bucket, artifact_bucket = f"{prefix}-data", f"{prefix}-artifacts"
for bucket in (data_bucket, artifact_bucket):
    s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket=data_bucket, VersioningConfiguration={"Status": "Enabled"})
s3.put_object(Bucket=data_bucket, Key="test/iris.csv", Body=(root / "data/iris-test.csv").read_bytes())

trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName=f"{prefix}-pipeline", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
action = lambda name, category, provider: {"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"}}
pipeline = f"{prefix}-pipeline"
cp.create_pipeline(pipeline={
    "name": pipeline, "roleArn": role, "pipelineType": "V2",
    "artifactStore": {"type": "S3", "location": artifact_bucket},
    "stages": [{"name": "Source", "actions": [action("Source", "Source", "S3")]},
               {"name": "Build", "actions": [action("Build", "Build", "CodeBuild")]}],
    "variables": [{"name": n, "defaultValue": "none"} for n in ("TrainingDataUri", "DataVersionId", "DataETag", "DataSize", "Trigger")],
})

# The model registry's group (the template's ModelPackageGroup).
models = f"{prefix}-models"
aws("sagemaker").create_model_package_group(ModelPackageGroupName=models)

env = {
    "TABLE_NAME": table,
    "NOTIFICATION_TOPIC_ARN": topics["notifications"],
    "APPROVAL_TOPIC_ARN": topics["approvals"],
    "PIPELINE_NAME": pipeline,
    "TRAINING_PREFIX": "training/",
    "TRAINING_SUFFIX": ".csv",
    "ENDPOINT_NAME": "iris-model",
    "DATA_BUCKET": data_bucket,
    "ARTIFACT_BUCKET": artifact_bucket,
    "MODEL_PACKAGE_GROUP": models,
}
for key, value in env.items():
    print(f"{key}={value}")
