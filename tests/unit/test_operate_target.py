"""Operator commands find the stack they work on: by name, from the environment, or the running ripen dev."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ripen_dev.operate.target import OperatorError, resolve, write_dev_file

OUTPUTS = {
    "LeadsTableName": "prod-Leads",
    "EnrollmentsTableName": "prod-Enrollments",
    "MessagesTableName": "prod-Messages",
    "HistoryTableName": "prod-History",
    "StatsTableName": "prod-Stats",
    "LeadIdSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lead-id",
    "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com",
}


def _cloudformation() -> tuple[object, Stubber]:
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def _stack(outputs: dict[str, str]) -> dict[str, object]:
    return {
        "Stacks": [
            {
                "StackName": "ripen-prod",
                "CreationTime": "2026-11-01T00:00:00Z",
                "StackStatus": "UPDATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def test_given_a_deployed_stack_when_named_then_its_outputs_name_the_tables_and_secrets(tmp_path: Path) -> None:
    client, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack(OUTPUTS), {"StackName": "ripen-prod"})
    with stub:
        target = resolve("ripen-prod", env={}, dev_file=tmp_path / "none.json", cloudformation=client)
    assert target.settings.leads_table == "prod-Leads"
    assert target.settings.stats_table == "prod-Stats"
    assert target.settings.lead_id_secret_arn == OUTPUTS["LeadIdSecretArn"]
    assert target.settings.region == "eu-west-1"
    assert target.outputs["ApiUrl"] == OUTPUTS["ApiUrl"]
    assert target.source == "stack ripen-prod (eu-west-1)"
    # and its functions' figures are read in the namespace template.yaml gives them: the stack's name
    assert target.settings.metrics_namespace == "ripen-prod"


def test_given_no_such_stack_then_one_line_says_so_with_the_region(tmp_path: Path) -> None:
    client, stub = _cloudformation()
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
    with stub, pytest.raises(OperatorError, match="no stack named nope in eu-west-1"):
        resolve("nope", env={}, dev_file=tmp_path / "none.json", cloudformation=client)


def test_given_no_permission_then_the_missing_action_is_named(tmp_path: Path) -> None:
    client, stub = _cloudformation()
    stub.add_client_error("describe_stacks", "AccessDenied", "User is not authorized")
    with stub, pytest.raises(OperatorError, match="cloudformation:DescribeStacks"):
        resolve("ripen-prod", env={}, dev_file=tmp_path / "none.json", cloudformation=client)


def test_given_a_stack_that_is_not_ripen_then_it_is_refused(tmp_path: Path) -> None:
    client, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack({"Other": "x"}), {"StackName": "web"})
    with stub, pytest.raises(OperatorError, match="is it a ripen stack"):
        resolve("web", env={}, dev_file=tmp_path / "none.json", cloudformation=client)


def test_given_the_functions_environment_then_the_standard_endpoint_variable_points_at_dynamodb_local(
    tmp_path: Path,
) -> None:
    env = {
        "LEADS_TABLE": "L",
        "ENROLLMENTS_TABLE": "E",
        "MESSAGES_TABLE": "M",
        "HISTORY_TABLE": "H",
        "STATS_TABLE": "S",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:8000",
    }
    target = resolve(env=env, dev_file=tmp_path / "none.json")
    assert target.source == "environment"
    assert target.settings.dynamodb_endpoint == "http://localhost:8000"
    assert target.settings.history_table == "H"


def test_given_a_running_ripen_dev_then_its_settings_and_local_credentials_are_used(tmp_path: Path) -> None:
    from ripen.config import Settings

    settings = Settings.from_env(
        {
            "LEADS_TABLE": "ripen-dev-Leads",
            "ENROLLMENTS_TABLE": "ripen-dev-Enrollments",
            "MESSAGES_TABLE": "ripen-dev-Messages",
            "HISTORY_TABLE": "ripen-dev-History",
            "STATS_TABLE": "ripen-dev-Stats",
            "DYNAMODB_ENDPOINT": "http://127.0.0.1:8123",
        }
    )
    kept = tmp_path / "dev-stack.json"
    write_dev_file(settings, kept, {"AWS_ACCESS_KEY_ID": "ripendev", "AWS_SECRET_ACCESS_KEY": "ripendev"})
    assert kept.stat().st_mode & 0o077 == 0, "the file holds local keys: private to its owner"
    target = resolve(env={}, dev_file=kept)
    assert target.source == "ripen dev"
    assert target.settings.leads_table == "ripen-dev-Leads"
    assert target.settings.dynamodb_endpoint == "http://127.0.0.1:8123"
    assert dict(target.credentials) == {"AWS_ACCESS_KEY_ID": "ripendev", "AWS_SECRET_ACCESS_KEY": "ripendev"}
    assert "AWS_ACCESS_KEY_ID" not in json.dumps(target.settings.model_dump(mode="json"))


def test_given_nothing_to_go_on_then_the_error_says_the_three_ways(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match=r"--stack NAME.*LEADS_TABLE.*ripen dev"):
        resolve(env={}, dev_file=tmp_path / "none.json")
