"""Product events on DynamoDB Local (tables from template.yaml), through the events function as SQS
delivers the events bus's rule: each id applied once, the goal ends the run, stats and history
record it, attributes reach the lead, racing deliveries apply once; and what one event costs."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from ripen.adapters.event_ids import DynamoEventIds
from ripen.app import use
from ripen.config import Settings
from ripen.core.events import GOAL_REACHED, EventOutcome, LeadEvent
from ripen.core.state import Status
from ripen.handlers import events as events_handler
from ripen.ports.stats import totals
from ripen_dev.local import cfn, resources
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS, REPO
from tests.integration.conftest import TEMPLATE
from tests.integration.test_dynamo_store import race
from tests.integration.test_engagement_dynamo import counted, dynamo_stack
from tests.support.capture import installed, invoke
from tests.support.mailstack import Stack, make_stack

pytestmark = pytest.mark.integration


@pytest.fixture
def events_settings(dynamodb_endpoint: str) -> Settings:
    """Fresh tables from template.yaml, and the settings the events function gets there."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    names = resources.create_tables(
        client, cfn.load_template(TEMPLATE), prefix=f"t{uuid.uuid4().hex[:8]}-", expire_items=False
    )
    env = resources.local_environment(TEMPLATE, names, "EventsFunction")
    env.update(DYNAMODB_ENDPOINT=dynamodb_endpoint, AWS_REGION="us-east-1", TEMPLATES_DIR=str(REPO / "templates"))
    return Settings.from_env(env)


def events_stack(settings, clock, catalog) -> Stack:
    base = dynamo_stack(settings, clock, catalog)
    ids = DynamoEventIds(settings.event_ids_table, settings.region, settings.dynamodb_endpoint)
    return make_stack(base.store, clock, catalog, stats=base.stats, event_ids=ids)


@pytest.fixture
def stack(events_settings, clock, catalog):
    built = events_stack(events_settings, clock, catalog)
    use(built.app)
    yield built
    use(None)


def goal_reached(stack: Stack) -> int:
    return sum(c.get(GOAL_REACHED, 0) for c in totals(stack.stats.rows("trial-nurture")).values())


def test_the_sample_batch_converts_ana_once_and_identifies_ben(stack, clock):
    # Given two trial leads, nine days in
    clock.set(clock.now().replace(year=2026, month=3, day=2, hour=9))
    ana = stack.signup("ana@example.com")
    ben = stack.signup("ben@example.com")
    stack.sent(ana, "welcome")
    clock.set(clock.now().replace(day=11, hour=12))
    batch = json.loads((EVENTS / "sqs" / "lead-events.json").read_text())
    # When the events function gets the sample batch, twice (SQS delivers at least once)
    assert events_handler.handler(batch, LambdaContext()) == {"batchItemFailures": []}
    assert events_handler.handler(batch, LambdaContext()) == {"batchItemFailures": []}
    # Then Ana's trial ended as a conversion, counted once, and her history says so
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.GOAL_REACHED
    assert goal_reached(stack) == 1
    assert any(h.trigger == "event trial_converted" for h in stack.store.history_of(ana.lead_id))
    # And Ben's attributes came from his demo booking, which scored once
    assert stack.store.get_lead(ben.lead_id).attributes == {"company_size": "40", "role": "head-of-data"}
    assert stack.store.get_enrollment(ben.lead_id, "trial-nurture").enrollment.score >= 25


def test_racing_deliveries_of_one_event_apply_it_once(stack, clock):
    # Given a trial lead
    ana = stack.signup("ana@example.com")
    clock.advance(hours=2)
    event = LeadEvent("evt-race-1", "pricing_page_viewed", clock.now(), email="ana@example.com")
    # When four deliveries of the same event are applied at once
    outcomes = race(4, lambda _: stack.app.product_events.apply(event).outcome)
    # Then one applied it, the others found it applied or in hand, and the score moved once
    assert outcomes.count(EventOutcome.APPLIED) == 1
    assert set(outcomes) <= {EventOutcome.APPLIED, EventOutcome.DUPLICATE, EventOutcome.IN_PROGRESS}
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.score == 10


def test_what_one_event_costs(events_settings, clock, catalog, capsys):
    with counted() as requests:
        # Given a lead, and an event that scores and moves their enrollment
        stack = events_stack(events_settings, clock, catalog)
        stack.signup("ana@example.com")
        clock.advance(hours=2)
        event = LeadEvent("evt-cost-1", "pricing_page_viewed", clock.now(), email="ana@example.com")
        # When it is applied
        requests.clear()
        stack.app.product_events.apply(event)
        # Then: the lead, its enrollments; the claim, the enrollment (with its history), applied
        assert (requests.reads, requests.writes) == (2, 3), str(requests)
        applied = str(requests)
        # And a replay costs the lead and the claim only
        requests.clear()
        assert stack.app.product_events.apply(event).outcome is EventOutcome.DUPLICATE
        assert (requests.reads, requests.writes) == (1, 1), str(requests)
        with capsys.disabled():
            print(f"\nproduct event applied: {applied}; replayed: {requests}")


def test_post_events_applies_a_batch_once_on_dynamodb(events_settings, clock, catalog):
    # Given two trial leads on DynamoDB Local, and the api function with the same tables
    built = events_stack(events_settings, clock, catalog)
    with installed(built.app):
        clock.set(clock.now().replace(year=2026, month=3, day=2, hour=9))
        ana = built.signup("ana@example.com")
        ben = built.signup("ben@example.com")
        clock.set(clock.now().replace(day=11, hour=12))
        sample = json.loads((EVENTS / "apigw" / "post-events.json").read_text())
        # When a backend posts the sample batch, and posts it again
        first, again = invoke(sample), invoke(sample)
    # Then the good events are applied once and the bad one is named by its index, both times
    assert (first.status, again.status) == (200, 200)
    assert [r["status"] for r in first.json["results"]] == ["applied", "applied", "invalid"]
    assert [r["status"] for r in again.json["results"]] == ["duplicate", "duplicate", "invalid"]
    assert built.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.GOAL_REACHED
    assert built.store.get_lead(ben.lead_id).attributes == {"role": "head-of-data"}
