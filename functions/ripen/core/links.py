"""The links ripen puts in emails: each carries a signed, expiring, purpose-bound token."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from ripen.core.tokens import KeyRing, Purpose, issue

# How long a visitor token in an email's links names the lead on the sender's website.
VISIT_TOKEN_LIFETIME = timedelta(days=30)


class Links:
    def __init__(self, base_url: str, key: KeyRing | bytes, lifetime: timedelta) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.lifetime = lifetime

    def _url(
        self,
        path: str,
        purpose: Purpose,
        lead_id: str,
        sequence: str | None,
        now: datetime,
        message: str | None = None,
        lifetime: timedelta | None = None,
        run: int | None = None,
    ) -> str:
        expires = now + (lifetime or self.lifetime)
        token = issue(self.key, purpose, lead_id, expires, sequence, message, issued_at=now, run=run)
        return f"{self.base_url}{path}?{urlencode({'token': token})}"

    def confirm(self, lead_id: str, sequence: str, now: datetime, lifetime: timedelta, run: int) -> str:
        """Bound to the run it confirms and dated: a link from an earlier run, or from before the
        lead last unsubscribed, confirms nothing."""
        return self._url("/confirm", Purpose.CONFIRM, lead_id, sequence, now, lifetime=lifetime, run=run)

    def unsubscribe(self, lead_id: str, sequence: str | None, now: datetime, message: str | None = None) -> str:
        return self._url("/unsubscribe", Purpose.UNSUBSCRIBE, lead_id, sequence, now, message)

    def preferences(self, lead_id: str, sequence: str | None, now: datetime) -> str:
        return self._url("/preferences", Purpose.PREFERENCES, lead_id, sequence, now)

    def visit_token(self, lead_id: str, now: datetime) -> str:
        """The `rv` parameter of links to the sender's website: the lead id only (no sequence, no
        message), so it stays short; `POST /events/web` takes it for page views for 30 days."""
        return issue(self.key, Purpose.VISIT, lead_id, now + VISIT_TOKEN_LIFETIME, issued_at=now)
