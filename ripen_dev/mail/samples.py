"""Sample leads and sender details for `ripen lint` and `ripen preview`.

Lint renders every email for a lead with every optional field and for one with none, so an
email that only works when the form sent a name or a company is caught before it ships.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ripen.core.leads import lead_id_for
from ripen.core.records import Consent, Lead
from ripen.mail.render import SenderDetails

SAMPLE_TIME = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SAMPLE_BASE_URL = "https://nurture.acme.example"
SAMPLE_KEY = b"ripen-preview-key-only-for-sample-links-0000"  # signs links in previews; never used to send
SAMPLE_LEAD_ID_KEY = b"ripen-preview-key-only-for-sample-lead-ids"  # names the sample leads; never a stack's
SAMPLE_SENDER = SenderDetails(
    company="Acme Insights",
    postal_address="Acme Insights Inc., 100 Example Street, Springfield, IL 62701, USA",
    website="https://acme.example",
)


def _lead(email: str, **fields: Any) -> Lead:
    consent = Consent(given_at=SAMPLE_TIME, source="preview", confirmed_at=SAMPLE_TIME)
    return Lead(lead_id_for(email, SAMPLE_LEAD_ID_KEY), email, SAMPLE_TIME, consents=(consent,), **fields)


SAMPLE_LEADS: dict[str, Lead] = {
    # every optional field a signup form may send
    "full": _lead(
        "ana.lopez@example.com",
        name="Ana Lopez",
        timezone="America/New_York",
        attributes={"company": "Fernhill Health", "role": "Head of Product", "company_size": "120"},
    ),
    # only the address: every optional field missing
    "minimal": _lead("sam@example.com"),
}


class LeadFile(BaseModel):
    """A sample lead for `ripen preview --lead FILE` (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid")
    email: str = "preview@example.com"
    name: str | None = None
    timezone: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)


def load_lead(path: Path) -> Lead:
    import yaml

    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    spec = LeadFile.model_validate(data or {})
    return _lead(spec.email, name=spec.name, timezone=spec.timezone, attributes=spec.attributes)


def sender_details(env: Mapping[str, str]) -> SenderDetails:
    """The sender configured in `env` (SENDER_COMPANY, SENDER_POSTAL_ADDRESS, SENDER_WEBSITE, as
    template.yaml sets them) when there is one, else the sample sender (for lint and previews)."""
    company, address = env.get("SENDER_COMPANY"), env.get("SENDER_POSTAL_ADDRESS")
    if company and address:
        return SenderDetails(company, address, env.get("SENDER_WEBSITE") or "")
    return SAMPLE_SENDER
