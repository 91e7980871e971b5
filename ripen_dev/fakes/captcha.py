"""A CAPTCHA provider that accepts the tokens it was given (and remembers what it was asked)."""

from __future__ import annotations

from ripen.ports.captcha import TOKEN_FIELDS


class FakeCaptcha:
    def __init__(self, *valid: str, provider: str = "turnstile") -> None:
        self.field = TOKEN_FIELDS[provider]
        self.valid = set(valid)
        self.asked: list[tuple[str, str | None]] = []

    def verify(self, token: str, remote_ip: str | None) -> bool:
        self.asked.append((token, remote_ip))
        return token in self.valid
