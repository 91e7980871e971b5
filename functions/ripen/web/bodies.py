"""Reading request bodies the way API Gateway (HTTP API) hands them over: JSON or a form, maybe base64.

Every failure is a `BodyError` with a status and words for a person; nothing here raises anything
else on any input, so a strange body is a 4xx, never a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 200


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


def media_type(headers: Mapping[str, str]) -> str:
    """`application/json; charset=utf-8` -> `application/json` (headers as API Gateway gives them)."""
    value = headers.get("content-type") or headers.get("Content-Type") or ""
    return value.split(";", 1)[0].strip().lower()


def is_json(kind: str) -> bool:
    return kind == JSON or (kind.startswith("application/") and kind.endswith("+json"))


def wants_json(headers: Mapping[str, str]) -> bool:
    """JSON callers get JSON; a browser posting a form (or anything asking for HTML) gets pages and redirects."""
    kind = media_type(headers)
    accept = (headers.get("accept") or headers.get("Accept") or "").lower()
    if is_json(kind):
        return True
    if "text/html" in accept:
        return False
    if "application/json" in accept:
        return True
    return kind != FORM


def raw_body(body: str | None, base64_encoded: bool, max_bytes: int) -> bytes:
    if not body:
        return b""
    # Base64 grows a body by a third: refuse what is clearly too big before decoding it.
    if len(body) > (max_bytes * 4) // 3 + 4:
        raise _too_large(max_bytes)
    if base64_encoded:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BodyError(400, "malformed_body", "The body is not valid base64.") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _too_large(max_bytes: int) -> BodyError:
    return BodyError(413, "payload_too_large", f"The body is larger than {max_bytes} bytes.")


def read_fields(
    headers: Mapping[str, str],
    body: str | None,
    base64_encoded: bool,
    max_bytes: int,
    single: Collection[str] = (),
) -> dict[str, Any]:
    """The fields of a JSON object or of a form. In a form, a field sent more than once becomes a list,
    except the names in `single`, where the last value wins (a hidden default before a checkbox)."""
    data = raw_body(body, base64_encoded, max_bytes)
    kind = media_type(headers)
    if not data.strip():
        raise BodyError(400, "empty_body", "The request has no body: send the signup fields as JSON or as a form.")
    if is_json(kind):
        return _json_object(data)
    if kind == FORM:
        return _form_fields(data, single)
    if kind == "multipart/form-data":
        raise BodyError(
            415,
            "unsupported_media_type",
            "Multipart bodies are not accepted: post the form as application/x-www-form-urlencoded (the default "
            "for HTML forms; in fetch(), send new URLSearchParams(new FormData(form))) or as JSON.",
        )
    raise BodyError(
        415,
        "unsupported_media_type",
        "Send the fields as application/json or as application/x-www-form-urlencoded (a plain HTML form).",
    )


def read_unsubscribe_form(
    headers: Mapping[str, str], body: str | None, base64_encoded: bool, max_bytes: int
) -> dict[str, str]:
    """The fields of an unsubscribe or preferences post, under the same limits as every other body
    (bytes, then fields). Lenient on purpose: RFC 8058 lets a mailbox provider post its one-click
    `List-Unsubscribe=One-Click` as multipart or without a content type, so any other body that
    says One-Click counts as one; in a form, a field sent twice keeps its first value."""
    data = raw_body(body, base64_encoded, max_bytes)
    if media_type(headers) != FORM:
        return {"List-Unsubscribe": "One-Click"} if b"One-Click" in data else {}
    fields = _form_fields(data, single=())
    return {name: value[0] if isinstance(value, list) else value for name, value in fields.items()}


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise BodyError(400, "malformed_body", "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise BodyError(400, "malformed_body", 'The body must be a JSON object, like {"email": "..."}.')
    return value


def _form_fields(data: bytes, single: Collection[str]) -> dict[str, Any]:
    try:
        text = data.decode("ascii")  # a urlencoded body is ASCII; UTF-8 lives in its %-escapes
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise BodyError(400, "malformed_body", "The form is not valid UTF-8.") from None
    except ValueError:
        raise BodyError(413, "payload_too_large", f"A form has at most {MAX_FORM_FIELDS} fields.") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in single or name not in fields:
            fields[name] = value
        elif isinstance(fields[name], list):
            fields[name].append(value)
        else:
            fields[name] = [fields[name], value]
    return fields
