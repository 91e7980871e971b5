"""A JSON Schema for `sequence.yaml`, generated from the sequence model, so editors complete keys and underline
mistakes as the marketer types (`ripen schema` writes it; `schema/sequence.schema.json` is the committed copy).

The model accepts shorthands its own JSON Schema does not show (`double_opt_in: true`, `score: ">= 30"`,
`wait: 2 days`, `decay_per_week: 10%`): each before-validator is described here by what it takes as input.
The validator stays the judge; the schema only helps while typing.
"""

from __future__ import annotations

import json
from datetime import time, timedelta
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from ripen.core.durations import _UNITS, format_duration
from ripen.core.sequence import _SLUG, STEP_MODELS, WEEKDAYS, SequenceSettings

SCHEMA_FILE = "schema/sequence.schema.json"


def _any_case(word: str) -> str:
    """'day' -> '[dD][aA][yY]': JSON Schema patterns have no case-insensitive flag, the validator lowercases."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


_UNIT = "|".join(_any_case(unit) for unit in sorted(_UNITS, key=lambda u: (-len(u), u)))
DURATION: JsonSchemaValue = {
    "type": "string",
    "pattern": rf"^\s*\d+(\.\d+)?\s*({_UNIT})\s*$",
    "description": "a number and a unit: minutes, hours, days or weeks, e.g. '2 days' or '36 hours'",
    "examples": ["1 day", "36 hours", "2 weeks"],
}
SLUG: JsonSchemaValue = {
    "type": "string",
    "pattern": _SLUG.pattern,
    "description": "lowercase letters, digits, '-' or '_', e.g. 'case-study'",
}
PERCENT: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d{1,2}(\.\d+)?\s*%\s*$"},  # under 100%
        {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    ],
    "description": "a percentage from 0% up to (not including) 100%, e.g. '10%'",
}
COMPARISON: JsonSchemaValue = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^\s*(>=|<=|==|!=|>|<)?\s*-?\d+(\.\d+)?\s*$"},
    ],
    "description": "a comparison like '>= 30' or '< 5'; a bare number means at least that number",
}
DAY: JsonSchemaValue = {
    "anyOf": [{"type": "string", "pattern": rf"^\s*{_any_case('day')}\s+\d+\s*$"}, {"type": "integer", "minimum": 1}],
    "description": "a day counted from when the lead entered, e.g. 'day 11'",
}
WEEKDAY: JsonSchemaValue = {
    "anyOf": [
        {"enum": list(WEEKDAYS)},
        {"type": "string", "pattern": "^(" + "|".join(_any_case(day) for day in WEEKDAYS) + ")"},
    ]
}
HOURS: JsonSchemaValue = {
    "type": "string",
    "pattern": r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$",
    "description": "a time range on one day, e.g. '09:00-17:00'",
}

# What each before-validator of the model takes, by its qualified name (models: by their name). A
# shorthand is offered next to the full form; a replacement describes input the model's type does not show.
MODEL_SHORTHANDS: dict[str, JsonSchemaValue] = {
    "DoubleOptIn": {"type": "boolean", "description": "true: on, with the defaults"},
    "Reentry": {"enum": ["never", "after_exit"], "description": "the policy, with the default cooldown"},
}
SHORTHANDS: dict[str, JsonSchemaValue] = {
    "SequenceSettings._cap_off": {"enum": [False, "off", "none"], "description": "no frequency cap"},
    "ExitStep._reason": {"const": True, "description": "true: the reason is 'completed'"},
}
REPLACEMENTS: dict[str, JsonSchemaValue] = {
    "_slug": SLUG,
    "_zone": {"type": "string", "description": "an IANA time zone, e.g. 'Europe/Berlin' or 'UTC'"},
    "_percent": PERCENT,
    "_day": DAY,
    "_sender": {"type": "string", "description": "a sender, e.g. 'Acme <hello@acme.example>'"},
    "Comparison._parse": COMPARISON,
    "SendWindow._days": {"anyOf": [WEEKDAY, {"type": "array", "minItems": 1, "items": WEEKDAY}]},
    "SendWindow._hours": HOURS,
}


def _plain(value: Any) -> Any:
    """A default as a marketer would write it ('2 days', not 'P2D')."""
    if isinstance(value, BaseModel):
        return {key: _plain(item) for key, item in value.model_dump(by_alias=True).items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(t, time) for t in value):
        start, end = value
        return f"{start:%H:%M}-" + ("24:00" if end == time(23, 59, 59) else f"{end:%H:%M}")
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


class _InputSchema(GenerateJsonSchema):
    """The schema of what a marketer may write, where it differs from the model's own types."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        name = getattr(schema["function"]["function"], "__qualname__", "")
        if name in REPLACEMENTS:
            return dict(REPLACEMENTS[name])
        inner = super().function_before_schema(schema)
        if name in SHORTHANDS:
            return {"anyOf": [SHORTHANDS[name], inner]}
        return inner

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        full = super().model_schema(schema)
        shorthand = MODEL_SHORTHANDS.get(schema["cls"].__name__)
        if shorthand is None:
            return full
        described: dict[str, Any] = {key: full.pop(key) for key in ("title", "description") if key in full}
        return {"anyOf": [shorthand, full], **described}

    def timedelta_schema(self, schema: core_schema.TimedeltaSchema) -> JsonSchemaValue:
        return dict(DURATION)

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(_plain(dft))


def sequence_schema() -> dict[str, Any]:
    """The JSON Schema of sequence.yaml: the settings, then `steps`, each step one of the step kinds."""
    models: list[type[BaseModel]] = [SequenceSettings, *STEP_MODELS.values()]
    _, generated = models_json_schema([(m, "validation") for m in models], by_alias=True, schema_generator=_InputSchema)
    defs: dict[str, Any] = generated["$defs"]
    top = defs.pop(SequenceSettings.__name__)
    top["title"] = "ripen sequence"
    top["description"] = "A nurture sequence: templates/<name>/sequence.yaml (or a frozen versions/<n>.yaml)."
    top["properties"]["steps"] = {
        "type": "array",
        "minItems": 1,
        "description": "what happens to a lead, in order; each step is exactly one kind: " + ", ".join(STEP_MODELS),
        "items": {"anyOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in STEP_MODELS.values()]},
    }
    top["required"] = [*top.get("required", []), "steps"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **top, "$defs": defs}


def schema_text() -> str:
    """The schema as committed: stable key order, one trailing newline."""
    return json.dumps(sequence_schema(), indent=2, ensure_ascii=False) + "\n"
