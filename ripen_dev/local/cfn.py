"""Reading template.yaml: the tables, queues and environment variables it declares.

Tests and `ripen dev` build their resources from here, so the schema exists in one place only.
"""

from __future__ import annotations

import re
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
    met = conditions(template, parameters) if template.get("Conditions") else {}
    for name, value in variables.items():
        resolved = _resolve(value, refs, params, met)
        if resolved is not None:
            env[name] = resolved
    return env


def _resolve(value: Any, refs: dict[str, str], params: dict[str, str], met: dict[str, bool]) -> str | None:
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
        name, when_true, when_false = value["Fn::If"]
        if name not in met:
            return None
        return _resolve(when_true if met[name] else when_false, refs, params, met)
    return None


# -- conditions, intrinsic functions and triggers: enough of CloudFormation to run the stack locally --

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "ripen",
}


class UnresolvedError(ValueError):
    """A value that needs something only a real deployment has (e.g. the HTTP API's id)."""


def conditions(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, bool]:
    """Every condition of the template, evaluated with `parameters` (defaults otherwise)."""
    params = {**parameter_defaults(template), **(parameters or {})}
    declared: dict[str, Any] = template.get("Conditions", {})
    values: dict[str, bool] = {}

    def value(name: str) -> bool:
        if name not in values:
            values[name] = bool(_evaluate(declared[name], params, value))
        return values[name]

    for name in declared:
        value(name)
    return values


def _evaluate(node: Any, params: dict[str, str], condition: Any) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            if arg in params:
                return params[arg]
            if arg in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[arg]
            raise UnresolvedError(f"!Ref {arg} in a condition")
        if key == "Condition":
            return condition(arg)
        if key == "Fn::Equals":
            left, right = (_evaluate(a, params, condition) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not _evaluate(arg[0], params, condition)
        if key == "Fn::And":
            return all(_evaluate(a, params, condition) for a in arg)
        if key == "Fn::Or":
            return any(_evaluate(a, params, condition) for a in arg)
    if isinstance(node, list):
        return ",".join(str(_evaluate(a, params, condition)) for a in node)
    return node


def active(template: dict[str, Any], kind: str, condition_values: dict[str, bool]) -> dict[str, dict[str, Any]]:
    """The resources of `kind` whose `Condition` (if any) holds."""
    return {
        name: res.get("Properties", {})
        for name, res in template.get("Resources", {}).items()
        if res.get("Type") == kind and condition_values.get(res.get("Condition", ""), True)
    }


class Resolver:
    """Resolves `!Ref`, `!GetAtt`, `!Sub`, `!Join` and `!If` in a template value, from what the local
    engines created (`refs`: logical id -> what `!Ref` gives; `attributes`: "Id.Attr" -> value)."""

    def __init__(
        self,
        template: dict[str, Any],
        refs: dict[str, str],
        attributes: dict[str, str] | None = None,
        parameters: dict[str, str] | None = None,
        pseudo: dict[str, str] | None = None,
    ) -> None:
        self.params = {**parameter_defaults(template), **(parameters or {})}
        self.pseudo = {**PSEUDO_PARAMETERS, **(pseudo or {})}
        self.refs = refs
        self.attributes = attributes or {}
        self.conditions = conditions(template, parameters)

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name = ".".join(arg) if isinstance(arg, list) else str(arg)
                if name not in self.attributes:
                    raise UnresolvedError(f"!GetAtt {name}")
                return self.attributes[name]
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                values = self(items)  # a list, or a CommaDelimitedList parameter
                values = values.split(",") if isinstance(values, str) else values
                return str(separator).join(str(value) for value in values)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self(then if self.conditions[name] else otherwise)
        return {key: self(value) for key, value in node.items()}

    def ref(self, name: str) -> Any:
        for source in (self.refs, self.params, self.pseudo):
            if name in source:
                return source[name]
        raise UnresolvedError(f"!Ref {name}")

    def sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in names:
                return str(names[name])
            if "." in name:
                return str(self({"Fn::GetAtt": name.split(".", 1)}))
            return str(self.ref(name))

        return _SUB.sub(replace, text)


_SUB = re.compile(r"\$\{([^}!]+)\}")


def function_handler(template: dict[str, Any], function: str) -> str:
    """The `Handler` of a function (`module.attribute`), from its properties or the Globals."""
    own = template["Resources"][function].get("Properties", {})
    handler = own.get("Handler") or template.get("Globals", {}).get("Function", {}).get("Handler")
    if not handler:
        raise ValueError(f"{function} has no Handler")
    return str(handler)


def functions_with_event(template: dict[str, Any], event_type: str) -> dict[str, dict[str, Any]]:
    """Functions with at least one SAM event of `event_type` (HttpApi, ScheduleV2, ...): function ->
    the properties of its first such event."""
    found: dict[str, dict[str, Any]] = {}
    for name, properties in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") == event_type:
                found.setdefault(name, event.get("Properties", {}))
    return found


def ref_target(node: Any) -> str | None:
    """The logical id a `!Ref X` or `!GetAtt X.Attr` points at."""
    if isinstance(node, dict) and "Ref" in node:
        return str(node["Ref"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        arg = node["Fn::GetAtt"]
        return str(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
    return None
