"""The stack's secrets: Secrets Manager in AWS (read with the functions' own botocore client,
cached), an environment variable locally. Never logged, never in the repo. (Not through Powertools'
parameters: that module imports boto3 and s3transfer, for this one call, on every cold start.)

- The link-signing keys (`TOKEN_SECRET_ARN` / `TOKEN_SECRET`): a plain secret is one key; JSON
  `{"current": "k2", "keys": {"k1": "...", "k2": "..."}}` is a key ring, so the key can rotate
  while links signed with a retired-but-listed key keep working (docs/operator-guide.md).
- The lead-id key (`LEAD_ID_SECRET_ARN` / `LEAD_ID_SECRET`): makes lead ids pseudonyms only the
  stack can compute. A secret of its own, never rotated: a new key would give every address a new
  id, and the leads, suppressions and unsubscribes stored under the old ones would be lost.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

from ripen.config import Settings
from ripen.core.tokens import KeyRing

CACHE_SECONDS = 300
MIN_KEY_LENGTH = 32


class MissingSecretError(RuntimeError):
    pass


def token_key(settings: Settings) -> KeyRing:
    """The link-signing key ring."""
    raw = _read(settings.token_secret_arn, settings.token_secret, "TOKEN_SECRET_ARN", "TOKEN_SECRET", "sign links")
    ring = _key_ring(raw)
    for key in ring.keys.values():
        _long_enough(key, "link-signing")
    return ring


def lead_id_key(settings: Settings) -> bytes:
    """The key lead ids are computed with (`ripen.core.leads.lead_id_for`)."""
    raw = _read(
        settings.lead_id_secret_arn, settings.lead_id_secret, "LEAD_ID_SECRET_ARN", "LEAD_ID_SECRET", "name leads"
    )
    return _long_enough(unwrap(raw).encode("utf-8"), "lead-id")


def _read(arn: str | None, value: str | None, arn_name: str, value_name: str, purpose: str) -> str:
    if arn:
        return secret_value(arn)
    if value:
        return value
    raise MissingSecretError(f"set {arn_name} (AWS) or {value_name} (local) to {purpose}")


_read_secrets: dict[str, tuple[str, float]] = {}  # ARN: (value, when it was read, monotonic)


def secret_value(arn: str) -> str:
    """The secret's current value, read again once it is CACHE_SECONDS old."""
    cached = _read_secrets.get(arn)
    if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
        return cached[0]
    value = str(secrets_manager().get_secret_value(SecretId=arn)["SecretString"])
    _read_secrets[arn] = (value, time.monotonic())
    return value


@cache
def secrets_manager() -> Any:
    """The Secrets Manager client, made on the first secret read (functions with local keys never pay)."""
    from ripen.adapters.aws import client

    return client("secretsmanager")


def _long_enough(key: bytes, what: str) -> bytes:
    if len(key) < MIN_KEY_LENGTH:
        raise MissingSecretError(f"the {what} secret must be at least {MIN_KEY_LENGTH} characters")
    return key


def _key_ring(raw: str) -> KeyRing:
    """A JSON key ring, or a single key (plain text, or JSON like {"key": "..."})."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict) and "current" in data and isinstance(data.get("keys"), dict):
        keys = {str(kid): str(key).encode("utf-8") for kid, key in data["keys"].items()}
        current = str(data["current"])
        if not current or current not in keys:
            raise MissingSecretError("the link-signing key ring's 'current' must name one of its 'keys'")
        return KeyRing(current, keys)
    return KeyRing.single(unwrap(raw).encode("utf-8"))


def unwrap(raw: str) -> str:
    """A generated secret may be plain text or JSON like {"key": "..."}."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(data, dict) and len(data) == 1:
        return str(next(iter(data.values())))
    return raw
