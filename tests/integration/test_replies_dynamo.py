"""Replies on DynamoDB Local (tables from template.yaml): the SNS sample reaches the replies function,
the email it answers is found by its SES message id in the messages table's index, and the trial
(`exit_on: [replied]`) ends, once however often SNS delivers it."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from ripen.app import use
from ripen.config import Settings
from ripen.core.state import Status
from ripen.handlers import replies as replies_handler
from ripen.services.replies import REPLIES_MATCHED
from ripen_dev.local import cfn, resources
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS, REPO
from tests.integration.conftest import TEMPLATE
from tests.integration.test_product_events_dynamo import events_stack

pytestmark = pytest.mark.integration

SAMPLE_SES_ID = "010001958a2b7c3d-6f1e2a44-9b7c-4d21-a8e3-2c5f0e9d1b77-000000"


@pytest.fixture
def stack(dynamodb_endpoint: str, clock, catalog):
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    names = resources.create_tables(
        client, cfn.load_template(TEMPLATE), prefix=f"t{uuid.uuid4().hex[:8]}-", expire_items=False
    )
    env = resources.local_environment(TEMPLATE, names, "RepliesFunction")
    env.update(DYNAMODB_ENDPOINT=dynamodb_endpoint, AWS_REGION="us-east-1", TEMPLATES_DIR=str(REPO / "templates"))
    built = events_stack(Settings.from_env(env), clock, catalog)
    use(built.app)
    yield built
    use(None)


def test_a_reply_to_the_welcome_email_ends_the_trial_once(stack, clock):
    # Given a trial lead who got the welcome email, which SES knows by its message id
    ana = stack.signup("ana@example.com")
    welcome = stack.sent(ana, "welcome")
    clock.advance(hours=2)
    event = json.loads((EVENTS / "sns" / "ses-reply.json").read_text())
    message = event["Records"][0]["Sns"]["Message"].replace(SAMPLE_SES_ID, welcome.ses_message_id)
    event["Records"][0]["Sns"]["Message"] = message.replace("2026-03-12T14:05:09.104Z", clock.now().isoformat())
    # When SNS delivers the reply's notification to the replies function, twice
    first = replies_handler.handler(event, LambdaContext())
    second = replies_handler.handler(event, LambdaContext())
    # Then the reply was applied once and the trial ended as `replied`
    assert (first, second) == ({"outcomes": ["applied"]}, {"outcomes": ["duplicate"]})
    record = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert record.enrollment.status is Status.COMPLETED
    assert record.enrollment.exit_reason == "left on the 'replied' event"
    assert stack.metrics.counts[REPLIES_MATCHED] == 2
