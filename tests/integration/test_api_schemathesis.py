"""Schemathesis throws generated requests at every operation of the API's OpenAPI description (the one
Powertools generates, as `ripen openapi` prints it), served on localhost as API Gateway would and
storing in DynamoDB Local. No request may make it fail (5xx), answer outside its description, or
leave anything behind that a valid signup would not."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ripen.app import App
from ripen.config import Settings
from ripen.core.leads import InvalidEmailError, normalize_email
from ripen.core.records import Lead
from ripen.models.signup import ATTRIBUTE_NAME, is_honeypot_filled
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.local import cfn, resources
from ripen_dev.local.http import LocalHttpApi
from ripen_dev.local.openapi import openapi_description
from tests.conftest import REPO, TEMPLATES
from tests.support.capture import EVENTS_KEY, installed, next_monday
from tests.support.ids import LEAD_ID_KEY, lead_id_for

pytestmark = pytest.mark.integration

TEMPLATE = REPO / "template.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
schema = schemathesis.openapi.from_dict(openapi_description())
# POST /leads again, from visitors who ticked the consent box, so that many more signups get stored.
consenting = schemathesis.openapi.from_dict(openapi_description()).include(method="POST", path="/leads")
outcomes: dict[tuple[str, int], int] = {}


@pytest.fixture(scope="module")
def served(dynamodb_endpoint: str) -> Iterator[tuple[str, App]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    names = resources.create_tables(
        dynamodb, cfn.load_template(TEMPLATE), prefix=f"t{uuid.uuid4().hex[:8]}-", expire_items=False
    )
    env = resources.local_environment(TEMPLATE, names, function="ApiFunction")
    env.update(
        DYNAMODB_ENDPOINT=dynamodb_endpoint,
        AWS_REGION="us-east-1",
        TEMPLATES_DIR=str(TEMPLATES),
        TOKEN_SECRET=EVENTS_KEY,
        LEAD_ID_SECRET=LEAD_ID_KEY,
        # The fuzzer posts hundreds of signups from one address in one (manual) minute: the abuse limits
        # would rightly hold most back. They have tests of their own (tests/security/test_mail_bombing.py).
        SIGNUP_EMAILS_PER_IP_MINUTE="10000",
        SIGNUP_EMAILS_PER_IP_HOUR="100000",
        SIGNUP_EMAILS_PER_MAILBOX_DAY="100",
        SIGNUP_EMAILS_PER_MAILBOX_MONTH="1000",
    )
    app = App(Settings.from_env(env), queue=MemorySendQueue(), clock=ManualClock(next_monday(16)))
    from ripen.handlers.api import handler

    with installed(app), LocalHttpApi(handler) as url:
        yield url, app


def signup_lead_id(case: Any) -> str | None:
    body = case.body if isinstance(case.body, dict) else {}
    email = body.get("email")
    if not isinstance(email, str):
        return None
    try:
        return lead_id_for(normalize_email(email.strip()))
    except InvalidEmailError:
        return None


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_request_fails_or_leaves_garbage(case, served):
    check(case, served)


@consenting.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_consenting_signup_fails_or_stores_garbage(case, served):
    if isinstance(case.body, dict):
        case.body["consent"] = True
    check(case, served)


def check(case: Any, served: tuple[str, App]) -> None:
    url, app = served
    lead_id = signup_lead_id(case) if case.operation.path == "/leads" else None
    before = app.store.get_lead(lead_id) if lead_id else None
    response = case.call(base_url=url)
    outcomes[(case.operation.label, response.status_code)] = (
        outcomes.get((case.operation.label, response.status_code), 0) + 1
    )
    case.validate_response(response, checks=CHECKS)
    if lead_id is None:
        return
    after = app.store.get_lead(lead_id)
    honeypot = isinstance(case.body, dict) and is_honeypot_filled(case.body)
    if response.status_code >= 400 or honeypot:
        assert after == before, "a refused signup changed the stored lead"
    else:
        assert after is not None, "an accepted signup stored no lead"
        assert_clean(after)


def test_everything_stored_is_clean(served):
    _, app = served
    table = app.settings.leads_table
    client = boto3.client("dynamodb", endpoint_url=app.settings.dynamodb_endpoint, region_name="us-east-1")
    ids = [i["lead_id"]["S"] for page in client.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]
    for lead_id in ids:
        lead = app.store.get_lead(lead_id)
        assert lead is not None
        assert_clean(lead)
    accepted = sum(n for (op, status), n in outcomes.items() if op == "POST /leads" and status in (200, 201, 303))
    refused = sum(n for (op, status), n in outcomes.items() if op == "POST /leads" and 400 <= status < 500)
    print(
        f"\nschemathesis: {sum(outcomes.values())} requests, POST /leads {accepted} accepted / {refused} refused, "
        f"{len(ids)} leads stored; by status: {dict(sorted(outcomes.items()))}"
    )
    assert refused > 0  # the run reached both sides
    assert accepted > 0


def assert_clean(lead: Lead) -> None:
    assert lead.email == normalize_email(lead.email)
    assert lead.lead_id == lead_id_for(lead.email)
    assert lead.consent is not None  # every example sequence requires consent
    for text in [lead.name or "", *lead.attributes.values(), lead.consent.source or "", lead.consent.wording or ""]:
        assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text), repr(text)
    assert lead.name is None or len(lead.name) <= 100
    assert all(ATTRIBUTE_NAME.match(name) for name in lead.attributes)
    assert all(len(value) <= 500 for value in lead.attributes.values())
    assert len(lead.attributes) <= 25  # MAX_ATTRIBUTES plus the five UTM fields
    if lead.timezone is not None:
        ZoneInfo(lead.timezone)
