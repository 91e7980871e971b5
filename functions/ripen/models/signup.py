"""The signup form as it crosses the boundary (`POST /leads`): typed, checked and normalized.

Landing pages send whatever fields they have, as JSON or as a form. The known fields below are
checked one by one; any other field becomes a lead attribute (within limits), so a form can ask for
a company or a role without a code change. A value that could end up in an email header (the name;
attributes that a subject line may use) never carries a line break.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import SkipJsonSchema

from ripen.core.leads import MAX_EMAIL_LENGTH, MAX_FIRST_NAME, InvalidEmailError, normalize_email
from ripen.core.locales import normalize_locale

HONEYPOT = "website"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")
_LINE_BREAKS = ("Zl", "Zp")  # Unicode line and paragraph separators


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a signup may carry besides its known fields (settings MAX_ATTRIBUTES, MAX_ATTRIBUTE_LENGTH)."""

    max_attributes: int = 20
    max_attribute_length: int = 500


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _valid_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("This is not valid text.") from None
    return unicodedata.normalize("NFC", value).strip()


def _one_line(value: str) -> str:
    """Free text kept on one line: control characters and line breaks become single spaces."""
    value = _valid_text(value)
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", *_LINE_BREAKS) else c for c in value)
    return re.sub(r" {2,}", " ", cleaned).strip()


def _header_safe(value: str) -> str:
    """Refused outright when it holds a line break or control character: it goes into the To header."""
    value = _valid_text(value)
    if any(unicodedata.category(c) in ("Cc", *_LINE_BREAKS) for c in value):
        raise ValueError("Line breaks and control characters are not allowed here.")
    return value


_NAME_PUNCTUATION = frozenset(" .'-")


def _person_name(value: str) -> str:
    """A person's name, as emails greet them with it: letters, combining marks, spaces and `.'-`
    only (no digits, links, markup or sentences), and a first name of at most 30 characters."""
    value = " ".join(_header_safe(value).split())
    if not all(c in _NAME_PUNCTUATION or unicodedata.category(c)[0] in "LM" for c in value):
        raise ValueError("A name holds letters, spaces and . ' - only.")
    if not any(unicodedata.category(c)[0] == "L" for c in value):
        raise ValueError("A name holds letters, spaces and . ' - only.")
    if len(value.split(" ")[0]) > MAX_FIRST_NAME:
        raise ValueError(f"A first name has at most {MAX_FIRST_NAME} characters.")
    return value


def _email(value: str) -> str:
    try:
        return normalize_email(_valid_text(value))
    except InvalidEmailError as exc:
        raise ValueError(str(exc)) from None


def _zone_or_none(value: str | None) -> str | None:
    """The browser's IANA time zone, or None when it is not one we know (the sequence's default applies)."""
    if value is None or not _ZONE.match(value):
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def _consent(value: Any) -> Any:
    """A ticked checkbox sends "on" (or whatever its value is); an unticked one sends nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    if isinstance(value, str) and value.strip().lower() in {"accepted", "agreed", "given", "checked"}:
        return True
    return value


def _attribute_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return ", ".join(str(v) for v in value)  # a group of checkboxes with the same name
    return value


Email = Annotated[
    str,
    Field(
        max_length=MAX_EMAIL_LENGTH,
        description="The lead's address; normalized (domain in ASCII, lowercased). Required.",
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(_email),
]
# Optional free text, one line, at most N characters; a blank field counts as not given.
Text40 = Annotated[
    Annotated[str, StringConstraints(max_length=40), AfterValidator(_one_line)] | None, BeforeValidator(_blank_to_none)
]
Text200 = Annotated[
    Annotated[str, StringConstraints(max_length=200), AfterValidator(_one_line)] | None,
    BeforeValidator(_blank_to_none),
]
Name = Annotated[
    Annotated[str, StringConstraints(max_length=100), AfterValidator(_person_name)] | None,
    BeforeValidator(_blank_to_none),
]
SequenceName = Annotated[
    Annotated[str, StringConstraints(max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")] | None,
    BeforeValidator(_blank_to_none),
]
Locale = Annotated[
    Annotated[str, StringConstraints(max_length=35), AfterValidator(normalize_locale)] | None,
    BeforeValidator(_blank_to_none),
]
TimeZone = Annotated[
    Annotated[str, AfterValidator(_zone_or_none)] | None,
    BeforeValidator(_blank_to_none),
]


class SignupForm(BaseModel):
    """A checked signup. Unknown fields are not kept here but in `attributes` (see `parse_signup`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,  # never echo (or log) what was typed
        title="Signup",
        json_schema_extra={
            "additionalProperties": {
                "anyOf": [{"type": "string", "maxLength": 500}, {"type": "number"}, {"type": "boolean"}]
            },
            "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9_-]{0,39}$"},
            "description": "Any other field (letters, digits, '-' or '_'; at most 20 of them, 500 characters "
            "each) is kept as a lead attribute, for sequences to branch on.",
        },
    )

    email: Email
    name: Annotated[
        Name,
        Field(
            description="Shown in emails ('Hi Jane'): letters, spaces and . ' - only; a first name of at most 30 "
            "characters. Fills an empty name only: a known lead's name is never changed by a post."
        ),
    ] = None
    sequence: Annotated[
        SequenceName,
        Field(description="The sequence to enter (a folder under templates/); the configured default otherwise."),
    ] = None
    consent: Annotated[
        bool,
        BeforeValidator(_consent),
        Field(
            description="The consent checkbox: true, 'on', 'yes' or '1'. Required by sequences with consent_required."
        ),
    ] = False
    consent_version: Annotated[
        Text40,
        Field(
            description="Accepted and ignored: the consent record keeps the wording version the sequence "
            "declares (`consent.wording` in sequence.yaml), never one a post claims."
        ),
    ] = None
    source: Annotated[
        Text200, Field(description="The form or page the signup came from; the Referer page otherwise.")
    ] = None
    tz: Annotated[
        TimeZone, Field(description="The browser's IANA time zone, e.g. 'Europe/Berlin'; ignored when unknown.")
    ] = None
    locale: Annotated[
        Locale,
        Field(
            description="The lead's language for emails and pages, e.g. 'de' or 'pt-BR'; the browser's "
            "Accept-Language otherwise; ignored when not a language tag."
        ),
    ] = None
    utm_source: Text200 = None
    utm_medium: Text200 = None
    utm_campaign: Text200 = None
    utm_term: Text200 = None
    utm_content: Text200 = None
    website: Annotated[
        str,
        BeforeValidator(lambda value: "" if value is None else value),
        StringConstraints(max_length=0),
        Field(
            description="Honeypot: hidden from people, left empty. When filled, the signup is answered as if "
            "accepted and nothing is stored."
        ),
    ] = ""
    # Filled by parse_signup from the fields not named above; in the body they sit beside the others.
    attributes: SkipJsonSchema[dict[str, str]] = Field(default_factory=dict, exclude=True)

    def lead_attributes(self) -> dict[str, str]:
        """Attributes to store on the lead: the extra fields and the UTM fields that were given."""
        utm = {name: getattr(self, name) for name in UTM_FIELDS if getattr(self, name)}
        return {**self.attributes, **utm}


FIELDS = frozenset(name for name in SignupForm.model_fields if name != "attributes")


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


class InvalidSignupError(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(p.field for p in problems))
        self.problems = problems


def attribute_name(field: str) -> str | None:
    """The attribute a form field is stored as (`Company-Size` -> `company_size`), or None if not allowed."""
    name = field.strip().lower().replace("-", "_")
    return name if ATTRIBUTE_NAME.match(name) else None


def is_honeypot_filled(fields: Mapping[str, Any]) -> bool:
    value = fields.get(HONEYPOT)
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, False, [], {})


_CONSENT: TypeAdapter[bool] = TypeAdapter(Annotated[bool, BeforeValidator(_consent)])


def consent_given(value: Any) -> bool:
    """Whether a raw consent field says yes (as SignupForm reads it); anything unreadable is a no."""
    try:
        return _CONSENT.validate_python(value)
    except ValidationError:
        return False


def parse_signup(fields: Mapping[str, Any], limits: Limits) -> SignupForm:
    """Check a signup's fields; raises InvalidSignupError naming every field that is not right."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for field, value in fields.items():
        if field in FIELDS:
            known[field] = value
            continue
        name = attribute_name(field)
        if name is None or name == "attributes":
            problems.append(
                FieldProblem(
                    shown(field),
                    "Extra field names may use letters, digits, '-' and '_', start with a letter and have at most "
                    "40 characters.",
                )
            )
        elif name in FIELDS:
            problems.append(FieldProblem(shown(field), f"Send this field as '{name}'."))
        elif value is not None:  # a JSON null is a field not given
            extra[name] = value
    if len(extra) > limits.max_attributes:
        problems.append(
            FieldProblem("body", f"At most {limits.max_attributes} extra fields are kept; this form sent {len(extra)}.")
        )
        extra = {}
    attributes: dict[str, str] = {}
    for name, value in extra.items():
        value = _attribute_value(value)
        if not isinstance(value, str):
            problems.append(FieldProblem(name, "An extra field holds text, a number or true/false."))
        elif len(value) > limits.max_attribute_length:
            problems.append(FieldProblem(name, f"At most {limits.max_attribute_length} characters."))
        else:
            try:
                attributes[name] = _one_line(value)
            except ValueError as exc:
                problems.append(FieldProblem(name, str(exc)))
    try:
        form = SignupForm.model_validate({**known, "attributes": attributes})
    except ValidationError as exc:
        problems.extend(_problems(exc))
    if problems:
        raise InvalidSignupError(_unique(problems))
    return form


def _problems(error: ValidationError) -> list[FieldProblem]:
    found = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in item["loc"]]
        field = loc[0] if loc else "body"
        if field == "attributes" and len(loc) > 1:
            field = loc[1]
        found.append(FieldProblem(shown(field), _message(item["type"], item["msg"], field)))
    return found


def _message(kind: str, message: str, field: str) -> str:
    if kind == "missing":
        return "Please enter your email address." if field == "email" else "This field is required."
    if kind == "bool_parsing":
        return "Tick the box (true, 'on', 'yes' or '1') or leave it out."
    if kind == "string_pattern_mismatch" and field == "sequence":
        return "A sequence name uses lowercase letters, digits, '-' and '_'."
    if kind == "string_type":
        return "This field takes text."
    if kind == "string_unicode":
        return "This is not valid text."
    return message.removeprefix("Value error, ")


def _unique(problems: list[FieldProblem]) -> list[FieldProblem]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        if (problem.field, problem.message) not in seen:
            seen.add((problem.field, problem.message))
            unique.append(problem)
    return unique


def shown(field: str) -> str:
    """A field name safe to show back: valid text, at most 40 characters."""
    text = field.encode("utf-8", "replace").decode("utf-8")
    text = "".join("?" if unicodedata.category(c).startswith("C") else c for c in text).strip()
    if not text:
        return "(a field without a name)"
    return text[:40] + ("…" if len(text) > 40 else "")


# -- answers ------------------------------------------------------------------------------------------

SignupStatus = Literal["pending_confirmation", "enrolled"]


class SignupAccepted(BaseModel):
    """What a JSON caller gets for an accepted signup: the same for a new address and a known one."""

    model_config = ConfigDict(title="SignupAccepted")
    status: SignupStatus = Field(
        description="What the sequence does with a new signup, whoever signed up: pending_confirmation (double "
        "opt-in: a confirmation email is sent to a new address) or enrolled (the first email is sent to a new "
        "address). A known address gets the same answer and nothing twice."
    )
    sequence: str
    message: str = Field(description="A sentence to show the person who signed up.")
    thank_you_url: str | None = Field(default=None, description="The sequence's thank-you page, if it has one.")


class FieldError(BaseModel):
    field: str
    message: str


class SignupRejected(BaseModel):
    """What a JSON caller gets for a signup that was not accepted; nothing was stored."""

    model_config = ConfigDict(title="SignupRejected")
    error: Literal[
        "invalid_fields", "malformed_body", "empty_body", "unsupported_media_type", "payload_too_large", "busy"
    ]
    message: str
    errors: list[FieldError] = Field(default_factory=list)
    sequences: list[str] | None = Field(default=None, description="The sequences one can sign up for.")
