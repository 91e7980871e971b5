"""Signed, expiring, purpose-bound tokens for the links in emails (confirm, unsubscribe, preferences,
and the visitor token `rv` on links to the sender's website).

A token is `<payload>.<signature>`, both base64url: the payload names the purpose, the lead, the
sequence, the issue time, the expiry and the id of the signing key (a confirm token also its run);
the signature is an HMAC-SHA256 over the purpose and the payload, so a token made for one purpose
never verifies for another. Tokens carry no email address.

Keys rotate through a `KeyRing`: new tokens are signed with the current key; a token verifies with
the key its id names, while that key is still in the ring. An unsubscribe token unsubscribes
however old it is (CAN-SPAM asks for at least 30 days; people find old emails): its expiry bounds
only what it may lead to (the preferences token the unsubscribe page offers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VISIT = "visit"  # names the lead on the sender's website (links to it in emails): page views, nothing else


class TokenError(ValueError):
    """Why a token was refused: 'malformed', 'forged', 'expired' or 'wrong-purpose'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# A purpose whose token keeps doing its one job after its expiry (see the module's docstring).
NEVER_EXPIRES_FOR = frozenset({Purpose.UNSUBSCRIBE})


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The signing keys by id: `current` signs, every key in `keys` verifies (retire one by removing
    it). A ring made from one plain secret has the id "" and signs tokens that name no key."""

    current: str
    keys: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current key id names no key in the ring")

    @classmethod
    def single(cls, key: bytes) -> KeyRing:
        return cls("", {"": key})

    def signing_key(self) -> bytes:
        return self.keys[self.current]

    def candidates(self, key_id: str) -> list[bytes]:
        """The keys a token naming `key_id` may be signed with: that one, or, for a token that names
        none (signed before the ring had ids), each key in the ring."""
        if key_id in self.keys:
            return [self.keys[key_id]]
        return list(self.keys.values()) if key_id == "" else []


def _ring(key: KeyRing | bytes) -> KeyRing:
    return key if isinstance(key, KeyRing) else KeyRing.single(key)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    purpose: Purpose
    lead_id: str
    sequence: str | None
    expires_at: datetime
    nonce: str
    message: str | None = None  # the message key the link was sent in, when there is one
    issued_at: datetime | None = None  # None: a token from before tokens carried it
    run: int | None = None  # a confirm token: the run of the enrollment it confirms

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, purpose: str, payload: str) -> str:
    return _b64(hmac.new(key, f"{purpose}.{payload}".encode(), hashlib.sha256).digest()[:24])


def sign(key: KeyRing | bytes, claims: TokenClaims) -> str:
    ring = _ring(key)
    body: dict[str, object] = {
        "p": claims.purpose.value,
        "l": claims.lead_id,
        "e": int(claims.expires_at.timestamp()),
        "n": claims.nonce,
    }
    if claims.sequence:
        body["s"] = claims.sequence
    if claims.message:
        body["m"] = claims.message
    if claims.issued_at is not None:
        body["i"] = int(claims.issued_at.timestamp())
    if claims.run is not None:
        body["r"] = claims.run
    if ring.current:
        body["k"] = ring.current
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_signature(ring.signing_key(), claims.purpose.value, payload)}"


def issue(
    key: KeyRing | bytes,
    purpose: Purpose,
    lead_id: str,
    expires_at: datetime,
    sequence: str | None = None,
    message: str | None = None,
    *,
    issued_at: datetime | None = None,
    run: int | None = None,
) -> str:
    nonce = secrets.token_urlsafe(6)
    return sign(key, TokenClaims(purpose, lead_id, sequence, expires_at, nonce, message, issued_at, run))


def _signed_by(keys: list[bytes], purpose: str, payload: str, signature: str) -> bool:
    return any(hmac.compare_digest(_signature(key, purpose, payload), signature) for key in keys)


def verify(key: KeyRing | bytes, token: str, purpose: Purpose, now: datetime) -> TokenClaims:
    """The token's claims, or TokenError. Checks the signature before believing any field (the key
    id only chooses which key to check it with)."""
    if not isinstance(token, str) or not token.isascii() or token.count(".") != 1 or len(token) > 1024:
        raise TokenError("malformed")
    payload, signature = token.split(".")
    try:
        body = json.loads(_unb64(payload))
        keys = _ring(key).candidates(str(body.get("k", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError("forged") from None
    if not _signed_by(keys, purpose.value, payload, signature):
        # Tell a token for another purpose apart from a forged one: nicer message, same refusal.
        try:
            other = Purpose(body["p"])
        except (ValueError, KeyError, TypeError):
            raise TokenError("forged") from None
        if other != purpose and _signed_by(keys, other.value, payload, signature):
            raise TokenError("wrong-purpose")
        raise TokenError("forged")
    try:
        claims = TokenClaims(
            purpose=Purpose(body["p"]),
            lead_id=str(body["l"]),
            sequence=body.get("s"),
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=UTC),
            nonce=str(body["n"]),
            message=body.get("m"),
            issued_at=datetime.fromtimestamp(int(body["i"]), tz=UTC) if "i" in body else None,
            run=int(body["r"]) if "r" in body else None,
        )
    except (ValueError, KeyError, TypeError):
        raise TokenError("malformed") from None
    if claims.purpose != purpose:
        raise TokenError("wrong-purpose")
    if claims.expired(now) and purpose not in NEVER_EXPIRES_FOR:
        raise TokenError("expired")
    return claims
