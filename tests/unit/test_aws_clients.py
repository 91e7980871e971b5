"""Every adapter makes its AWS client one way (`ripen.adapters.aws`): short timeouts, botocore's
standard retries, and no retry at all where a call is not safe to repeat."""

from __future__ import annotations

import pytest

from ripen.adapters import aws
from ripen.adapters.bus import EventBridgeBus
from ripen.adapters.mailer import SesMailer
from ripen.adapters.queue import SqsSendQueue
from ripen.adapters.stats import DynamoStats

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def test_a_slow_or_throttled_aws_call_is_given_up_on_in_seconds_and_retried_with_backoff():
    clients = {
        "events": EventBridgeBus("sales", REGION).client,
        "sqs": SqsSendQueue("https://sqs.eu-west-1.amazonaws.com/123456789012/send").client,
        "dynamodb": DynamoStats("stats", REGION).client,
    }
    for service, client in clients.items():
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5, 10), service
        assert config.retries == {"mode": "standard", "total_max_attempts": aws.RETRIES + 1}, service
        assert client.meta.region_name == REGION, service


def test_an_email_is_never_sent_again_by_the_sdk_itself():
    config = SesMailer(REGION).client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert config.read_timeout == aws.READ_TIMEOUT_SECONDS


def test_dynamodb_local_is_reached_at_its_endpoint():
    client = DynamoStats("stats", REGION, "http://127.0.0.1:8000").client
    assert client.meta.endpoint_url == "http://127.0.0.1:8000"
