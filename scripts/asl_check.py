"""Checks the state machine definitions against the template, then fills them in.

    python scripts/asl_check.py OUT_DIR

For every AWS::Serverless::StateMachine in template.yaml:
  - every ${Name} in its DefinitionUri file has a DefinitionSubstitutions entry,
    and every entry is used;
  - no Resource hard-codes a region, an account or a partition.
The rules about the project's own contracts (known integrations, the task
token, job names that carry the redrive and retry counts, Retry and Catch on
every Task) are Rust tests beside the contracts: shared/tests/statemachine.rs.
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
