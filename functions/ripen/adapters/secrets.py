"""The link-signing key: Secrets Manager in AWS (through Powertools parameters, cached), an
environment variable locally. Never logged, never in the repo."""

from __future__ import annotations

import json

from ripen.config import Settings

CACHE_SECONDS = 300
MIN_KEY_LENGTH = 32


class MissingSecretError(RuntimeError):
    pass


def token_key(settings: Settings) -> bytes:
    if settings.token_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # lazy: boto3 only when needed

        raw = str(parameters.get_secret(settings.token_secret_arn, max_age=CACHE_SECONDS))
        value = unwrap(raw)
    elif settings.token_secret:
        value = settings.token_secret
    else:
        raise MissingSecretError("set TOKEN_SECRET_ARN (AWS) or TOKEN_SECRET (local) to sign links")
    if len(value) < MIN_KEY_LENGTH:
        raise MissingSecretError(f"the link-signing secret must be at least {MIN_KEY_LENGTH} characters")
    return value.encode("utf-8")


def unwrap(raw: str) -> str:
    """A generated secret may be plain text or JSON like {"key": "..."}."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(data, dict) and len(data) == 1:
        return str(next(iter(data.values())))
    return raw
