"""The tests' lead-id key, and lead ids under it: what `ripen.core.leads.lead_id_for` gives the stacks
the tests build (their settings carry `LEAD_ID_SECRET=LEAD_ID_KEY`)."""

from __future__ import annotations

from ripen.core import leads

LEAD_ID_KEY = "ripen-tests-lead-id-key-not-a-secret-0000"


def lead_id_for(normalized_email: str) -> str:
    return leads.lead_id_for(normalized_email, LEAD_ID_KEY.encode())
