"""Lead identity: one lead per normalized email address, named by an id that is not the address."""

from __future__ import annotations

import base64
import hashlib
import hmac


def lead_id_for(normalized_email: str, key: bytes) -> str:
    """A stable, opaque id for an address, so keys, tags, logs and metrics never carry the address.

    Deterministic so that two signups racing for the same address converge on one item. Keyed
    (HMAC-SHA256 with the stack's lead-id secret): a pseudonym only the stack can compute, so a list
    of guessed addresses cannot be matched against the ids in logs, SES tags, history or hand-offs.
    """
    digest = hmac.new(key, f"ripen:lead:{normalized_email}".encode(), hashlib.sha256).digest()
    return "ld_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:24]


def erased_hash_for(normalized_email: str, key: bytes) -> str:
    """What names an address whose lead was erased on request (kept only to honour an opt-out or a
    suppression): a keyed hash for that one purpose, under a key derived from the lead-id key, so it
    is not the lead id and no lead id can be recomputed from it."""
    purpose_key = hmac.new(key, b"ripen:erased", hashlib.sha256).digest()
    digest = hmac.new(purpose_key, f"ripen:erased:{normalized_email}".encode(), hashlib.sha256).digest()
    return "er_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def shard_of(lead_id: str, shards: int) -> str:
    """The due-index partition of a lead: spreads due work evenly over `shards` keys."""
    return f"{int.from_bytes(hashlib.blake2b(lead_id.encode(), digest_size=4).digest(), 'big') % shards:02d}"


class InvalidEmailError(ValueError):
    """Why an address was refused, in words a person filling in a form understands."""


MAX_EMAIL_LENGTH = 254
MAX_FIRST_NAME = 30  # what emails greet a lead with ("Hi Ana"): a form refuses longer, emails cut it


def normalize_email(address: str) -> str:
    """The one form of an address that names a lead: syntax checked, domain in ASCII (IDNA), lowercased.

    No DNS lookups (fast and deterministic). Addresses with non-ASCII characters before the @ are
    refused: Amazon SES cannot send to them. Every way of finding a lead by address goes through here.
    """
    from email_validator import EmailNotValidError, validate_email

    if len(address) > MAX_EMAIL_LENGTH:
        raise InvalidEmailError(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError(str(exc)) from None
    ascii_email = checked.ascii_email or checked.normalized
    return ascii_email.lower()
