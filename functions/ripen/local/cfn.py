"""Reading template.yaml: the tables, queues and environment variables it declares.

Tests and `ripen dev` build their resources from here, so the schema exists in one place only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_TAGS = ("Ref", "Condition")
_FN_TAGS = (
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Sub",
    "GetAtt",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "GetAZs",
    "Base64",
    "Cidr",
    "Transform",
)


class _CfnLoader(yaml.SafeLoader):
    pass


def _constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag in _TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _constructor(_tag))
for _tag in _FN_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _constructor(f"Fn::{_tag}"))


def load_template(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return data


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: res.get("Properties", {})
        for name, res in template.get("Resources", {}).items()
        if res.get("Type") == kind
    }


def create_table_request(properties: dict[str, Any], table_name: str) -> dict[str, Any]:
    """The CreateTable call for a table declared in the template (on-demand billing)."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    indexes = properties.get("GlobalSecondaryIndexes")
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]} for i in indexes
        ]
    return request


def ttl_attribute(properties: dict[str, Any]) -> str | None:
    spec = properties.get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(p["Default"]) for name, p in template.get("Parameters", {}).items() if "Default" in p}


def function_environment(
    template: dict[str, Any], function: str | None, refs: dict[str, str], parameters: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment variables a function gets (Globals merged with its own), with `!Ref`s to
    resources resolved through `refs` and to parameters through `parameters` (defaults otherwise).
    Values that cannot be resolved locally (e.g. `!GetAtt`) are left out."""
    params = {**parameter_defaults(template), **(parameters or {})}
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    if function is not None:
        own = template["Resources"][function].get("Properties", {}).get("Environment", {}).get("Variables", {})
        variables.update(own)
    env: dict[str, str] = {}
    for name, value in variables.items():
        resolved = _resolve(value, refs, params)
        if resolved is not None:
            env[name] = resolved
    return env


def _resolve(value: Any, refs: dict[str, str], params: dict[str, str]) -> str | None:
    if isinstance(value, (str, int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        if name in refs:
            return refs[name]
        if name in params:
            return params[name]
        if name == "AWS::Region":
            return refs.get("AWS::Region", "us-east-1")
        return None
    if isinstance(value, dict) and "Fn::If" in value:
        return None
    return None
