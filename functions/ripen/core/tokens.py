"""Signed, expiring, purpose-bound tokens for the links in emails (confirm, unsubscribe, preferences).

A token is `<payload>.<signature>`, both base64url: the payload names the purpose, the lead, the
sequence and the expiry; the signature is an HMAC-SHA256 over the purpose and the payload, so a
token made for one purpose never verifies for another. Tokens carry no email address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class TokenError(ValueError):
    """Why a token was refused: 'malformed', 'forged', 'expired' or 'wrong-purpose'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TokenClaims:
    purpose: Purpose
    lead_id: str
    sequence: str | None
    expires_at: datetime
    nonce: str
    message: str | None = None  # the message key the link was sent in, when there is one


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, purpose: str, payload: str) -> str:
    return _b64(hmac.new(key, f"{purpose}.{payload}".encode(), hashlib.sha256).digest()[:24])


def sign(key: bytes, claims: TokenClaims) -> str:
    body = {"p": claims.purpose.value, "l": claims.lead_id, "e": int(claims.expires_at.timestamp()), "n": claims.nonce}
    if claims.sequence:
        body["s"] = claims.sequence
    if claims.message:
        body["m"] = claims.message
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_signature(key, claims.purpose.value, payload)}"


def issue(
    key: bytes,
    purpose: Purpose,
    lead_id: str,
    expires_at: datetime,
    sequence: str | None = None,
    message: str | None = None,
) -> str:
    return sign(key, TokenClaims(purpose, lead_id, sequence, expires_at, secrets.token_urlsafe(6), message))


def verify(key: bytes, token: str, purpose: Purpose, now: datetime) -> TokenClaims:
    """The token's claims, or TokenError. Checks the signature before believing any field."""
    if not isinstance(token, str) or not token.isascii() or token.count(".") != 1 or len(token) > 1024:
        raise TokenError("malformed")
    payload, signature = token.split(".")
    if not hmac.compare_digest(_signature(key, purpose.value, payload), signature):
        # Tell a token for another purpose apart from a forged one: nicer message, same refusal.
        try:
            body = json.loads(_unb64(payload))
            other = Purpose(body["p"])
        except (ValueError, KeyError, TypeError):
            raise TokenError("forged") from None
        if other != purpose and hmac.compare_digest(_signature(key, other.value, payload), signature):
            raise TokenError("wrong-purpose")
        raise TokenError("forged")
    try:
        body = json.loads(_unb64(payload))
        claims = TokenClaims(
            purpose=Purpose(body["p"]),
            lead_id=str(body["l"]),
            sequence=body.get("s"),
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=UTC),
            nonce=str(body["n"]),
            message=body.get("m"),
        )
    except (ValueError, KeyError, TypeError):
        raise TokenError("malformed") from None
    if claims.purpose != purpose:
        raise TokenError("wrong-purpose")
    if now >= claims.expires_at:
        raise TokenError("expired")
    return claims
