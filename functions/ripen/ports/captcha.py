"""A CAPTCHA check on the server (Cloudflare Turnstile or hCaptcha): the form sends the token its
widget produced; the provider says whether a person solved it, for this site, once."""

from __future__ import annotations

from typing import Protocol

# The form field each provider's widget fills in (the same name is read from a JSON body).
TOKEN_FIELDS = {"turnstile": "cf-turnstile-response", "hcaptcha": "h-captcha-response"}


class CaptchaVerifier(Protocol):
    field: str  # the form field that carries the token

    def verify(self, token: str, remote_ip: str | None) -> bool:
        """True only when the provider accepts the token; False for a refusal or no answer (fail closed)."""
        ...
