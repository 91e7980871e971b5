"""The CAPTCHA provider's siteverify endpoint (Turnstile and hCaptcha take the same form post:
`secret`, `response`, `remoteip`, and answer `{"success": true|false, ...}`). Fails closed: a
time-out or an unreadable answer refuses the signup (the person may simply try again)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

from aws_lambda_powertools import Logger

from ripen.adapters.secrets import MissingSecretError
from ripen.config import Settings
from ripen.ports.captcha import TOKEN_FIELDS

logger = Logger(child=True)

SITEVERIFY = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}
TIMEOUT_SECONDS = 3
MAX_TOKEN_LENGTH = 2048  # Turnstile's documented maximum


class SiteVerifyCaptcha:
    def __init__(self, provider: str, secret: str, url: str | None = None) -> None:
        if provider not in SITEVERIFY:
            raise ValueError(f"CAPTCHA_PROVIDER must be one of {', '.join(SITEVERIFY)}")
        self.field = TOKEN_FIELDS[provider]
        self.url = url or SITEVERIFY[provider]
        if not self.url.startswith("https://"):
            raise ValueError("the CAPTCHA siteverify URL must be https")
        self._secret = secret

    def verify(self, token: str, remote_ip: str | None) -> bool:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        fields = {"secret": self._secret, "response": token, **({"remoteip": remote_ip} if remote_ip else {})}
        request = urllib.request.Request(  # noqa: S310 (an https URL, checked above)
            self.url,
            data=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                result = json.loads(answer.read(65_536))
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            logger.warning("captcha check failed: refusing", extra={"error": type(exc).__name__})
            return False
        return isinstance(result, dict) and result.get("success") is True


def captcha_secret(settings: Settings) -> str:
    """The provider's secret key: Secrets Manager in AWS (CAPTCHA_SECRET_ARN), CAPTCHA_SECRET locally."""
    if settings.captcha_secret_arn:
        from ripen.adapters.secrets import secret_value, unwrap

        return unwrap(secret_value(settings.captcha_secret_arn))
    if settings.captcha_secret:
        return settings.captcha_secret
    raise MissingSecretError("set CAPTCHA_SECRET_ARN (AWS) or CAPTCHA_SECRET (local) to check CAPTCHAs")
