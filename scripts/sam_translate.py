#!/usr/bin/env python3
"""The SAM transform itself, as CloudFormation runs it for
`Transform: AWS::Serverless-2016-10-31`: aws-sam-translator on template.yaml,
with CodeUri and DefinitionUri as `sam package` writes them (S3 URIs).

    scripts/sam_translate.py OUT.json
    SAM_CODE_REVISION=2 scripts/sam_translate.py OUT.json

SAM_CODE_REVISION names each function's archive `<Function>-<revision>.zip`,
as `sam package` names changed code by its hash: the functions' published
versions then get new logical ids, as on a deploy of new code.

Writes the translated template (plain CloudFormation) to OUT.json, or fails
with the translator's own errors. `sam validate --lint` does not run this: it
runs cfn-lint, whose built-in transform is looser than the service's.
"""
import json
import os
import re
import sys

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs; the template names none by short name."""

    def load(self):
        return {}


def main(out):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(open("template.yaml").read())
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        if "CodeUri" in properties:
            revision = os.environ.get("SAM_CODE_REVISION")
            key = f"{name}-{revision}.zip" if revision else f"{name}.zip"
            properties["CodeUri"] = f"s3://sam-package-bucket/{key}"
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = "s3://sam-package-bucket/pipeline.asl.json"
    try:
        translated = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"sam-translate: {cause.message}", file=sys.stderr)
        sys.exit("sam-translate: the SAM transform rejects template.yaml (CloudFormation would too)")
    cycles = dependency_cycles(translated)
    for cycle in cycles:
        print(f"sam-translate: these resources depend on one another in a circle: {', '.join(cycle)}", file=sys.stderr)
    if cycles:
        sys.exit("sam-translate: CloudFormation refuses a template whose resources depend on each other in a circle")
    with open(out, "w") as f:
        json.dump(translated, f, indent=1, default=str)
    print(f"sam-translate: template.yaml translated ({len(translated['Resources'])} resources) → {out}")


def references(value, resources):
    """The resources a property value names: Ref, Fn::GetAtt and ${X} / ${X.Attr} in Fn::Sub."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                names = {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found |= names - set(variables)
                found |= references(variables, resources)
            else:
                found |= references(inner, resources)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner, resources)
    return found & resources


def dependency_cycles(template):
    """Every cycle among the resources (strongly connected components of more
    than one resource, or one that names itself). cfn-lint's E3004 misses some,
    for example one that runs through an S3 bucket's notification."""
    resources = template.get("Resources", {})
    names = set(resources)
    edges = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        edges[name] = (references(resource.get("Properties", {}), names) | set(depends)) & names
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in edges[node]:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(names):
        if node not in index:
            visit(node)
    return cycles


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
