"""SES message tags: what every email carries, and the reversible spelling of a message key.

SES tag names and values may hold only ASCII letters, digits, `_`, `-`, `.` and `@` (at most 256
characters). A message key is `<lead_id>#<sequence>#<run>#<step>`; none of its parts can contain
a `.` (lead ids are `ld_` + base32, sequence and step names are slugs, the run is a number), so
the tag spells the key with `.` for `#` and `message_key_from_tag` reads it back exactly:

    ld_abc#trial-nurture#1#welcome  <->  ld_abc.trial-nurture.1.welcome

Engagement events are matched by `mail.messageId` first; the `message` tag is the second way.
"""

from __future__ import annotations

import re

LEAD = "lead"
SEQUENCE = "sequence"
STEP = "step"
MESSAGE = "message"
KIND = "kind"
VARIANT = "variant"  # only on an email an A/B test chose

MAX_LENGTH = 256
_ALLOWED = re.compile(r"^[A-Za-z0-9_.@-]{1,256}$")
_DISALLOWED = re.compile(r"[^A-Za-z0-9_.@-]")


def tag_value(text: str) -> str:
    """`text` with every character SES refuses replaced by `_` (for free text such as names)."""
    cleaned = _DISALLOWED.sub("_", text)[:MAX_LENGTH]
    return cleaned or "_"


def is_valid_tag_value(text: str) -> bool:
    return bool(_ALLOWED.match(text))


def message_tag(message_key: str) -> str:
    """The message key as a tag value: `#` becomes `.` (reversible, see the module docstring)."""
    if "." in message_key:
        raise ValueError("a message key never contains '.'")
    value = message_key.replace("#", ".")
    if not is_valid_tag_value(value):
        raise ValueError(f"message key {message_key!r} has characters SES tags do not allow")
    return value


def message_key_from_tag(value: str) -> str:
    """The message key a `message` tag names (the inverse of `message_tag`)."""
    return value.replace(".", "#")


def message_tags(
    lead_id: str, sequence: str, step: str, message_key: str, kind: str, variant: str | None = None
) -> dict[str, str]:
    """The tags every email is sent with: who, which sequence and step, which message, what kind
    (and which variant, when an A/B test chose it)."""
    tags = {
        LEAD: tag_value(lead_id),
        SEQUENCE: tag_value(sequence),
        STEP: tag_value(step),
        MESSAGE: message_tag(message_key),
        KIND: tag_value(kind),
    }
    if variant:
        tags[VARIANT] = tag_value(variant)
    return tags
