"""Operator commands fail with one line: an AWS refusal names the missing permission as AWS does."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import ScanError

from ripen_dev.operate.commands import aws_problem


def denied(action: str) -> ClientError:
    message = f"User: arn:aws:iam::123456789012:user/ops is not authorized to perform: {action} on resource: table"
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, action.split(":")[1])


def test_a_missing_permission_is_named_even_through_pynamodb():
    try:
        try:
            raise denied("dynamodb:Scan")
        except ClientError as exc:
            raise ScanError("Failed to scan") from exc
    except ScanError as wrapped:
        line = aws_problem(wrapped)
    assert line is not None
    assert line.startswith("not allowed: ")
    assert "dynamodb:Scan" in line
    assert "\n" not in line


def test_an_unreachable_endpoint_and_other_errors():
    assert aws_problem(EndpointConnectionError(endpoint_url="http://localhost:8000")).startswith("cannot reach AWS")
    assert aws_problem(ValueError("a bug")) is None
