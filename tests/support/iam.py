"""Least privilege, checked on what CloudFormation will really create: template.yaml expanded by the
SAM translator (the same code `sam deploy` runs), so the policies SAM adds on its own (for event
sources, for the basic execution role) are judged too, not only the ones the template spells out.

A function passes when every IAM statement its role gets
- names the resources it acts on (no `*` where an ARN is known; `*` only for actions that have no
  resource-level permissions),
- sends email only from the SES identity, through the configuration set, with an `ses:FromAddress`
  condition,
- grants nothing the function cannot even name: every resource in its policies is one its code reads
  the name of (through an environment variable it reads) or one of its own event sources.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUNCTION = "AWS::Serverless::Function"
# The managed policies accepted, both added by SAM and both write-only: CloudWatch Logs for the
# function's own logs, and X-Ray trace segments for `Tracing: Active` (IAM cannot scope those to a
# resource). Replacing them needs a hand-written role per function.
ALLOWED_MANAGED = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
# Actions IAM cannot scope to a resource: `*` is the only possible Resource for them.
NO_RESOURCE_LEVEL = {
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ses:GetAccount",  # the account's sending quota and status: no resource type in IAM
}
SEND_ACTIONS = {"ses:SendEmail", "ses:SendRawEmail"}
# How the adapters reach DynamoDB (pynamodb models and transactions, the low-level client) -> the IAM
# action each call needs. A transaction needs the action of each item in it (no TransactWriteItems).
DYNAMODB_CALLS = {
    "dynamodb:GetItem": r"Item\.get\(|\.get_item\(",
    "dynamodb:BatchGetItem": r"\.batch_get\(|\.batch_get_item\(",
    "dynamodb:Query": r"\.query\(",
    "dynamodb:Scan": r"\.scan\(",
    "dynamodb:PutItem": r"\.save\(|\.put_item\(",
    "dynamodb:UpdateItem": r"\.update\(|\.update_item\(",
    "dynamodb:ConditionCheckItem": r"\.condition_check\(",
    "dynamodb:DeleteItem": r"\.delete\(|\.delete_item\(",
    "dynamodb:BatchWriteItem": r"\.batch_write\(|\.batch_write_item\(",
    "dynamodb:DescribeTable": r"[A-Z]\w*Item\.(?:exists|describe_table)\(|\.describe_table\(",
}
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z]+)?\}")


@dataclass(frozen=True)
class Problem:
    function: str
    message: str

    def __str__(self) -> str:
        return f"{self.function}: {self.message}"


def expand(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """template.yaml as CloudFormation sees it after the SAM transform (offline: no S3, no AWS)."""
    from samtranslator.translator.transform import transform

    document = copy.deepcopy(template)
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://ripen-build/artifact.zip"  # what `sam package` puts there
    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region or "us-east-1"
    try:
        return dict(transform(document, parameters, _NoManagedPolicies()))
    finally:
        if region is None:
            del os.environ["AWS_DEFAULT_REGION"]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def references(value: Any) -> set[str]:
    """Logical ids and parameters a value points at (`Ref`, `GetAtt`, `${...}` in `Sub`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
            found |= {name for name in _REFERENCE.findall(text) if name not in variables}
            for inner in variables.values():
                found |= references(inner)
        for key, inner in value.items():
            if key not in {"Ref", "Fn::GetAtt", "Fn::Sub"}:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return {name for name in found if not name.startswith("AWS::")}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role.get("Properties", {}).get("Policies", []):
        yield from _as_list(policy["PolicyDocument"]["Statement"])


def _role_of(expanded: dict[str, Any], function: str) -> tuple[str, dict[str, Any]] | None:
    role = expanded["Resources"][function]["Properties"].get("Role")
    names = references(role)
    if len(names) != 1:
        return None
    [name] = names
    return name, expanded["Resources"][name]


def event_sources(template: dict[str, Any], function: str) -> set[str]:
    """Resources that trigger the function: SAM events and event source mappings pointing at it."""
    found: set[str] = set()
    for event in template["Resources"][function].get("Properties", {}).get("Events", {}).values():
        found |= references(event.get("Properties", {}))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Lambda::EventSourceMapping" and references(properties.get("FunctionName")) == {
            function
        }:
            found |= references(properties.get("EventSourceArn"))
    return found


def dynamodb_actions_in(folder: Path) -> set[str]:
    """The DynamoDB actions the code in `folder` can call at all."""
    code = "\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.rglob("*.py")))
    return {action for action, call in DYNAMODB_CALLS.items() if re.search(call, code)}


def problems(
    template: dict[str, Any],
    parameters: dict[str, str],
    named: dict[str, set[str]],
    ses_identity: str = "SesIdentity",
    dynamodb_used: set[str] | None = None,
) -> list[Problem]:
    """Every least-privilege problem of every function. `named[function]`: the logical ids and
    parameters the function's code can name (the values of the environment variables it reads);
    `dynamodb_used`: the DynamoDB actions the code ever calls (none other may be granted)."""
    expanded = expand(template, parameters)
    configuration_sets = {
        name for name, r in template["Resources"].items() if r.get("Type") == "AWS::SES::ConfigurationSet"
    }
    found: list[Problem] = []
    for function, resource in template["Resources"].items():
        if resource.get("Type") != FUNCTION:
            continue
        role = _role_of(expanded, function)
        if role is None:
            found.append(Problem(function, "has a role of its own: keep Policies so this test can judge them"))
            continue
        _role_name, role_resource = role
        for arn in role_resource["Properties"].get("ManagedPolicyArns", []):
            if not any(json.dumps(arn).endswith(f'/{name}"') for name in ALLOWED_MANAGED):
                found.append(Problem(function, f"gets the managed policy {json.dumps(arn)} (grants on '*')"))
        allowed = named.get(function, set()) | event_sources(template, function) | {ses_identity}
        for statement in _statements(role_resource):
            found += _statement_problems(function, statement, allowed, ses_identity, configuration_sets)
            if dynamodb_used is not None:
                found += _unused_dynamodb(function, statement, dynamodb_used)
    return found


def _statement_problems(
    function: str, statement: dict[str, Any], allowed: set[str], identity: str, configuration_sets: set[str]
) -> list[Problem]:
    found: list[Problem] = []
    actions = set(_as_list(statement.get("Action", [])))
    resources = _as_list(statement.get("Resource", []))
    if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
        return [Problem(function, f"unexpected statement {json.dumps(statement)}")]
    for resource in resources:
        if _unscoped(resource) and not actions <= NO_RESOURCE_LEVEL:
            found.append(Problem(function, f"{sorted(actions)} on {json.dumps(resource)}: name the resource"))
    used = references(resources)
    for name in sorted(used - allowed):
        found.append(Problem(function, f"{sorted(actions)} on {name}, which its code never names"))
    if actions & SEND_ACTIONS:
        expected = {identity} | configuration_sets
        if used != expected or len(resources) != len(expected):
            found.append(Problem(function, f"sends email on {sorted(used)}: only {sorted(expected)}"))
        condition = statement.get("Condition", {})
        from_address = [
            values for test in condition.values() for key, values in test.items() if key == "ses:FromAddress"
        ]
        if not from_address or identity not in references(from_address):
            found.append(Problem(function, f"sends email without an ses:FromAddress condition on {identity}"))
    return found


def _unused_dynamodb(function: str, statement: dict[str, Any], used: set[str]) -> list[Problem]:
    actions = {a for a in _as_list(statement.get("Action", [])) if a.startswith("dynamodb:")}
    unused = sorted(a for a in actions if a not in used)
    return [Problem(function, f"gets {unused}, which the code never calls")] if unused else []


def _unscoped(resource: Any) -> bool:
    """`*`, or an ARN whose wildcard stands where a name from the template should be."""
    if isinstance(resource, str):
        return "*" in resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        text = sub[0] if isinstance(sub, list) else sub
        named_at = min((m.start() for m in re.finditer(r"\$\{(?!AWS::)", text)), default=None)
        star = text.find("*")
        return star != -1 and (named_at is None or star < named_at)
    return False


def main(template_path: str, out: str) -> None:
    """`python -m tests.support.iam template.yaml out.json`: the SAM-expanded template, for checkov."""
    from ripen_dev.local import cfn

    template = cfn.load_template(Path(template_path))
    parameters = {name: "acme.example" for name, p in template["Parameters"].items() if "Default" not in p}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(expand(template, parameters), indent=1), encoding="utf-8")


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:3])
