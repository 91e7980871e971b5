"""What a function pays for on a cold start (AWS bills INIT, and the first invocation's one-time work
is billed in its duration): importing a handler loads no part of the app, and building the parts a
function's first invocation uses loads only what that function needs. Checked on the modules a fresh
interpreter loads, never by timing anything (`make bench` measures the CPU and memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.stub import Stubber

from ripen.adapters import aws, secrets
from ripen.config import Settings
from ripen.handlers import nurture
from ripen_dev.local import cfn

REPO = Path(__file__).resolve().parents[2]
HANDLERS = sorted(
    function["Handler"].rpartition(".")[0]
    for function in cfn.resources_of_type(
        cfn.load_template(REPO / "template.yaml"), "AWS::Serverless::Function"
    ).values()
)
# The nurture function hands each invocation to one of these handlers, imported when first needed:
# each is checked as if it were a function of its own.
PARTS = tuple(nurture.PARTS.values())
# The parts each function's first invocation takes from `ripen.app` (`a`: the app) before its first request.
FIRST_INVOCATION = {
    "ripen.handlers.api": "module.resolver(); a.signup; a.signup_limits; a.links; a.preferences; a.product_events",
    "ripen.handlers.nurture": "a.sweep; a.account_check",  # the sweep's tick every minute: most often the first
    "ripen.handlers.sweep": "a.sweep; a.account_check",
    "ripen.handlers.sender": "a.sender",
    "ripen.handlers.engagement": "a.engagement; a.breaker",
    "ripen.handlers.events": "a.product_events",
    "ripen.handlers.replies": "a.replies",
}
RENDERING = ("jinja2", "markdown", "css_inline", "ripen.mail")
# What a function never needs (modules, or packages with all their modules).
NEVER = {
    "ripen.handlers.api": (*RENDERING, "ripen.models.ses", "aws_lambda_powertools.utilities.batch"),
    "ripen.handlers.nurture": (*RENDERING, "ripen.web", "ripen.models.ses", "aws_lambda_powertools.event_handler"),
    "ripen.handlers.sweep": (*RENDERING, "ripen.web", "ripen.models.ses", "aws_lambda_powertools.event_handler"),
    "ripen.handlers.sender": ("ripen.web", "ripen.models.ses", "aws_lambda_powertools.utilities.parser"),
    "ripen.handlers.engagement": (*RENDERING, "ripen.web", "aws_lambda_powertools.event_handler"),
    "ripen.handlers.events": (*RENDERING, "ripen.web", "ripen.models.ses", "aws_lambda_powertools.event_handler"),
    "ripen.handlers.replies": (*RENDERING, "ripen.web", "ripen.models.ses", "aws_lambda_powertools.event_handler"),
}
# Loading the catalog of sequences, the settings or a DynamoDB model is the first invocation's work.
NOT_AT_IMPORT = ("yaml", "ripen.core.validator", "ripen.adapters.templates", "ripen.config", "pynamodb")
# boto3 and s3transfer: the functions make their clients with botocore alone (`ripen.adapters.aws`).
NOWHERE = ("boto3", "s3transfer")
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "TEMPLATES_DIR": str(REPO / "templates"),
    "TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:links",
    "LEAD_ID_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:lead-ids",
    "SEND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/send",
    "SALES_BUS_NAME": "sales",
    "SENDER_COMPANY": "Example Inc.",
    "SENDER_POSTAL_ADDRESS": "1 Main Street, Springfield",
    "SES_MAX_SEND_RATE": "14",
    **{name: name.lower() for name in ("LEADS_TABLE", "ENROLLMENTS_TABLE", "MESSAGES_TABLE", "HISTORY_TABLE")},
    **{name: name.lower() for name in ("STATS_TABLE", "SENDING_TABLE", "LIMITS_TABLE", "EVENT_IDS_TABLE")},
}
# A fresh interpreter: import the handler (INIT), then build its first invocation's parts from the
# environment, the keys read from a stubbed Secrets Manager. Nothing reaches AWS.
PROBE = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
at_import = sorted(sys.modules)
from botocore.stub import Stubber
from ripen.adapters import secrets
stub = Stubber(secrets.secrets_manager())
for _ in range(2):
    stub.add_response("get_secret_value", {"SecretString": "a key of thirty-two characters or more"})
stub.activate()
import botocore.session
sessions = []
made = botocore.session.Session.__init__
def counted(self, *args, **kwargs):
    sessions.append(self)
    made(self, *args, **kwargs)
botocore.session.Session.__init__ = counted
from ripen.app import app
a = app()
exec(sys.argv[2])
from ripen.adapters import tables
models = [*tables.MODELS.values(), tables.ErasedItem]
connections = len({id(m._get_connection().connection) for m in models} | {id(a.store._connection)})
a.store._connection.client  # the clients, as the first requests make them
for part in list(vars(a).values()):
    getattr(part, "client", None)
print(json.dumps({"at_import": at_import, "loaded": sorted(sys.modules), "connections": connections,
                  "sessions": len(sessions)}))
"""


def cold_start(handler: str) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "functions"), **ENV}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, handler, FIRST_INVOCATION[handler]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def among(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in names or m.startswith(tuple(f"{n}." for n in names)))


def test_every_function_of_the_template_is_checked():
    assert {*HANDLERS, *PARTS} == set(FIRST_INVOCATION) == set(NEVER)


@pytest.mark.parametrize("handler", [*HANDLERS, *PARTS])
def test_a_cold_start_loads_only_what_the_function_uses(handler):
    # Given a fresh interpreter with a function's environment (keys kept in Secrets Manager)
    # When it imports the function's handler and builds the parts its first invocation uses
    started = cold_start(handler)
    # Then the import loaded no part of the app: no settings, no catalog of sequences, no table model
    assert among(started["at_import"], NOT_AT_IMPORT) == []
    # And the parts loaded nothing the function never uses, and no boto3 (the keys are read with botocore)
    assert among(started["loaded"], NEVER[handler]) == []
    assert among(started["loaded"], NOWHERE) == []
    # And every table it reaches goes through one DynamoDB connection, and every client it makes comes
    # from the session the Secrets Manager client was made from: botocore's files are loaded once
    assert started["connections"] == 1
    assert started["sessions"] == 0


def test_a_key_in_secrets_manager_is_read_once_per_cache_period(monkeypatch):
    # Given the lead-id key kept in Secrets Manager
    client = aws.client("secretsmanager", "us-east-1")
    monkeypatch.setattr(secrets, "secrets_manager", lambda: client)
    monkeypatch.setattr(secrets, "_read_secrets", {})
    now = [1000.0]
    monkeypatch.setattr(secrets.time, "monotonic", lambda: now[0])
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lead-ids"
    settings = Settings.model_validate(
        {**{k: v for k, v in ENV.items() if k.endswith("_TABLE")}, "LEAD_ID_SECRET_ARN": arn}
    )
    with Stubber(client) as stub:
        stub.add_response(
            "get_secret_value", {"SecretString": '{"key": "the first key, thirty-two characters"}'}, {"SecretId": arn}
        )
        # When it is read twice within the cache period
        first = secrets.lead_id_key(settings)
        now[0] += secrets.CACHE_SECONDS - 1
        again = secrets.lead_id_key(settings)
        # Then Secrets Manager was asked once, and the key is the secret's value
        stub.assert_no_pending_responses()
        assert first == again == b"the first key, thirty-two characters"
        # And once the period is over, it is read again
        stub.add_response(
            "get_secret_value", {"SecretString": "the second key, thirty-two characters"}, {"SecretId": arn}
        )
        now[0] += 2
        assert secrets.lead_id_key(settings) == b"the second key, thirty-two characters"
        stub.assert_no_pending_responses()
