"""Checks the state machine definitions against the template, then fills them in.

    python scripts/asl_check.py OUT_DIR

For every AWS::Serverless::StateMachine in template.yaml:
  - every ${Name} in its DefinitionUri file has a DefinitionSubstitutions entry,
    and every entry is used;
  - every Task Resource is an integration this project knows (a typo in a
    Resource would otherwise surface only when a run reaches that state);
  - every .waitForTaskToken task passes $$.Task.Token in its payload;
  - every SageMaker job's name includes $$.Execution.RedriveCount and
    $$.State.RetryCount (a redrive or a retried create never meets its own
    job), and the job's retriers stay below 10 attempts (the name's room);
  - every Task catches to the failure path or says, 'Not caught:', why not;
  - no Resource hard-codes a region, an account or a partition.
Then it writes the definition with sample values substituted (parameter
defaults, example ARNs) to OUT_DIR, for asl-validator and statelint.
"""

import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "us-east-1"

# The integrations the pipeline uses (optimised SageMaker and Lambda, with their
# patterns). A new one is added here on purpose, not by a typo in a Resource.
KNOWN_RESOURCES = {
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "arn:aws:states:::sagemaker:createTransformJob.sync",
    "arn:aws:states:::sagemaker:createModel",
    "arn:aws:states:::sagemaker:createProcessingJob.sync",
    "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
    "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
    "arn:aws:states:::aws-sdk:dynamodb:query",
    "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage",
    "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage",
    "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
    "arn:aws:states:::aws-sdk:ecr:batchGetImage",
    "arn:aws:states:::aws-sdk:ecr:putImage",
    "arn:aws:states:::aws-sdk:cloudwatchlogs:putRetentionPolicy",
    "arn:aws:states:::aws-sdk:sagemaker:deleteModel",
    "arn:aws:states:::aws-sdk:s3:putObjectTagging",
    "arn:aws:states:::aws-sdk:sagemaker:deleteEndpointConfig",
    "arn:aws:states:::aws-sdk:sagemaker:describeEndpointConfig",
    "arn:aws:states:::aws-sdk:applicationautoscaling:registerScalableTarget",
    "arn:aws:states:::aws-sdk:applicationautoscaling:deregisterScalableTarget",
    "arn:aws:states:::aws-sdk:applicationautoscaling:putScalingPolicy",
    "arn:aws:states:::aws-sdk:s3:headObject",
}
# Jobs keep their names after failing; a redriven run must name its own anew.
JOB_NAMES = {
    "arn:aws:states:::sagemaker:createTrainingJob.sync": "TrainingJobName.$",
    "arn:aws:states:::sagemaker:createTransformJob.sync": "TransformJobName.$",
    "arn:aws:states:::sagemaker:createProcessingJob.sync": "ProcessingJobName.$",
    "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync": "HyperParameterTuningJobName.$",
}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def sample_value(name, value, template):
    """An example value for one substitution, as CloudFormation would resolve it."""
    params = template.get("Parameters", {})
    resources = template.get("Resources", {})
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        if ref == "AWS::Partition":
            return "aws"
        if ref in params:
            return str(params[ref].get("Default", "example"))
        kind = resources.get(ref, {}).get("Type", "")
        if kind == "AWS::S3::Bucket":
            return f"stack-{ref.lower()}-example"
        return f"{ref}-example"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        target = target[0] if isinstance(target, list) else target.split(".")[0]
        kind = resources.get(target, {}).get("Type", "")
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stack-{target}-example"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/stack-{target}-example"
        return f"arn:aws:example:{REGION}:{ACCOUNT}:{target}"
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        pseudo = {"AWS::StackName": "stack", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
        def one(m):
            name = m.group(1)
            if name in pseudo:
                return pseudo[name]
            if name in params:
                return str(params[name].get("Default", "example"))
            raise SystemExit(f"asl_check: cannot sample ${{{name}}} in a Fn::Sub substitution")
        return re.sub(r"\$\{([A-Za-z0-9_:]+)\}", one, value["Fn::Sub"])
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), list):
        text, local = value["Fn::Sub"]
        local = {k: sample_value(k, v, template) for k, v in local.items()}
        return sample_value(name, {"Fn::Sub": re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: local.get(m.group(1), m.group(0)), text)}, template)
    if isinstance(value, dict) and "Fn::Select" in value and "AWS::StackId" in json.dumps(value):
        return "5e1f0c70"  # the stack's token: the first group of its id's UUID
    if isinstance(value, dict) and "Fn::If" in value:
        # The branch a default deployment takes: the first that is not empty.
        branches = [sample_value(name, v, template) for v in value["Fn::If"][1:]]
        return next((b for b in branches if b), "")
    if isinstance(value, (str, int, float)):
        return str(value)
    raise SystemExit(f"asl_check: cannot sample the substitution {name}: {value!r}")


def tasks(states):
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from tasks(branch["States"])
        if "Iterator" in state:
            yield from tasks(state["Iterator"]["States"])
        if "ItemProcessor" in state:
            yield from tasks(state["ItemProcessor"]["States"])


def passes_token(value):
    if isinstance(value, dict):
        return any(
            (k.endswith(".$") and v == "$$.Task.Token") or passes_token(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(passes_token(v) for v in value)
    return False


def check(definition_path, substitutions, template, out_dir):
    errors = []
    text = definition_path.read_text()
    used = set(PLACEHOLDER.findall(text))
    for missing in sorted(used - substitutions.keys()):
        errors.append(f"${{{missing}}} has no DefinitionSubstitutions entry in template.yaml")
    for unused in sorted(substitutions.keys() - used):
        errors.append(f"DefinitionSubstitutions.{unused} is not used by {definition_path.name}")

    raw = json.loads(text)
    for name, state in tasks(raw["States"]):
        resource = state["Resource"]
        if re.search(r"arn:aws[a-z-]*:", resource) or re.search(r"\d{12}", resource):
            errors.append(f"{name}: Resource {resource} hard-codes a partition or account; use ${{Partition}}")
        known = resource.replace("${Partition}", "aws")
        if known not in KNOWN_RESOURCES:
            errors.append(f"{name}: Resource {resource} is not a known integration")
        if resource.endswith(".waitForTaskToken") and not passes_token(state.get("Parameters", {})):
            errors.append(f"{name}: a .waitForTaskToken task must pass $$.Task.Token in its payload")
        job_name = JOB_NAMES.get(known)
        if job_name:
            given = state.get("Parameters", {}).get(job_name, "")
            if "$$.Execution.RedriveCount" not in given:
                errors.append(f"{name}: {job_name} must include $$.Execution.RedriveCount, or a redrive collides with the failed job")
            if "$$.State.RetryCount" not in given:
                errors.append(f"{name}: {job_name} must include $$.State.RetryCount, or a retry after a lost answer collides with its own job")
            if sum(r.get("MaxAttempts", 3) for r in state.get("Retry", [])) > 9:
                errors.append(f"{name}: its retriers allow 10 or more attempts; the job name keeps room for one retry digit (shared::naming::ATTEMPT_SUFFIX_MAX)")
        # A Task either catches to a decided end, or says it is left uncaught on
        # purpose (its failure is the execution's failure point, for a redrive).
        if not state.get("Catch") and "Not caught:" not in state.get("Comment", ""):
            errors.append(f"{name}: a Task needs a Catch to the failure path, or a Comment saying 'Not caught:' and why")
        if not state.get("Retry"):
            errors.append(f"{name}: every Task needs a Retry for transient errors")

    values = {k: sample_value(k, v, template) for k, v in substitutions.items()}
    filled = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    json.loads(filled)  # still JSON once filled in
    out = out_dir / definition_path.name
    out.write_text(filled)
    return errors, out


def main():
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    template, matches = decode(str(ROOT / "template.yaml"))
    if matches:
        raise SystemExit(f"asl_check: template.yaml does not parse: {matches}")
    errors = []
    seen = 0
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource["Properties"]
        path = ROOT / props["DefinitionUri"]
        found, out = check(path, props.get("DefinitionSubstitutions", {}), template, out_dir)
        errors += [f"{logical_id} ({path.name}): {e}" for e in found]
        print(f"asl_check: {logical_id}: {path.relative_to(ROOT)} checked, filled in at {out}")
        seen += 1
    if seen == 0:
        errors.append("template.yaml declares no AWS::Serverless::StateMachine")
    for e in errors:
        print(f"asl_check: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
