"""`POST /events/web` on DynamoDB Local (tables from template.yaml): a page view with the visitor token
of a trial email scores once per hour through the same product-event path (EventIds claims)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import EVENTS
from tests.integration.test_product_events_dynamo import events_settings, events_stack  # noqa: F401 (fixture)
from tests.support.capture import installed, invoke

pytestmark = pytest.mark.integration

SAMPLE = json.loads((EVENTS / "apigw" / "post-events-web.json").read_text())


def view(token: str, url: str = "https://www.acme.example/pricing") -> dict:
    request = json.loads(json.dumps(SAMPLE))
    request["body"] = json.dumps({"token": token, "url": url})
    return request


def test_a_page_view_scores_once_per_hour_on_dynamodb(events_settings, clock, catalog):  # noqa: F811
    # Given a trial lead on DynamoDB Local, and the visitor token her emails carry
    built = events_stack(events_settings, clock, catalog)
    with installed(built.app):
        ana = built.signup("ana@example.com")
        clock.advance(hours=2)
        token = built.app.links.visit_token(ana.lead_id, clock.now())
        # When she views pricing, reloads it a minute later, and views it again two hours later
        first = invoke(view(token))
        clock.advance(minutes=1)
        reload = invoke(view(token))
        after_reload = built.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.score
        clock.advance(timedelta(hours=2))
        later = invoke(view(token))
        # And someone posts a forged token for her
        forged = invoke(view(token[:-3] + "abc"))
    # Then each view was taken, the reload counted once with the first, the later view again
    assert [r.status for r in (first, reload, later)] == [200, 200, 200]
    assert first.json == {"events": ["pricing_page_viewed"]}
    assert after_reload == pytest.approx(10, abs=0.05)
    assert built.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.score == pytest.approx(20, abs=0.1)
    # And the forged token changed nothing
    assert (forged.status, forged.json["error"]) == (403, "forged_token")
