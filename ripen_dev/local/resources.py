"""Create the resources template.yaml declares on local engines (DynamoDB Local, moto)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ripen_dev.local import cfn

TABLE = "AWS::DynamoDB::Table"


def create_tables(
    dynamodb: Any, template: dict[str, Any], prefix: str, expire_items: bool = True, keep_existing: bool = False
) -> dict[str, str]:
    """Create every table of the template through a boto3 DynamoDB client; returns logical id -> name.

    `expire_items=False` leaves TTL off: DynamoDB Local deletes expired items by the real clock,
    which would delete the items of tests that run on a virtual clock. `keep_existing=True` keeps a
    table that exists already (data kept on disk by `ripen dev --persist`) as it is."""
    names: dict[str, str] = {}
    existing = set(_table_names(dynamodb)) if keep_existing else set()
    for logical_id, properties in cfn.resources_of_type(template, TABLE).items():
        name = f"{prefix}{logical_id}"
        names[logical_id] = name
        if name in existing:
            continue
        dynamodb.create_table(**cfn.create_table_request(properties, name))
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        ttl = cfn.ttl_attribute(properties)
        if ttl and expire_items:
            spec = {"Enabled": True, "AttributeName": ttl}
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    return names


def _table_names(dynamodb: Any) -> list[str]:
    return [name for page in dynamodb.get_paginator("list_tables").paginate() for name in page["TableNames"]]


QUEUE = "AWS::SQS::Queue"
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")


def create_queues(
    sqs: Any, template: dict[str, Any], prefix: str, conditions: dict[str, bool] | None = None
) -> dict[str, str]:
    """Create every queue of the template through a boto3 SQS client (e.g. moto's); returns logical id -> URL
    (what `!Ref` of a queue gives). Attributes that name other resources (the redrive policy) are left out.
    With `conditions` (`cfn.conditions`), queues whose condition does not hold are not created."""
    urls: dict[str, str] = {}
    declared = cfn.resources_of_type(template, QUEUE) if conditions is None else cfn.active(template, QUEUE, conditions)
    for logical_id, properties in declared.items():
        attributes = {name: str(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties}
        urls[logical_id] = sqs.create_queue(QueueName=f"{prefix}{logical_id}", Attributes=attributes)["QueueUrl"]
    return urls


def queue_arns(sqs: Any, urls: dict[str, str]) -> dict[str, str]:
    """ "<logical id>.Arn" -> ARN of each queue (what `!GetAtt Queue.Arn` gives)."""
    arns: dict[str, str] = {}
    for logical_id, url in urls.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        arns[f"{logical_id}.Arn"] = attributes["QueueArn"]
    return arns


# An EventBridge rule delivers the whole event to a queue target. moto's delivery leaves `account`
# out, so local rules spell the event out as AWS delivers it (moto turns `time` into ISO 8601 itself).
WHOLE_EVENT = {
    "InputPathsMap": {
        name: f"$.{name}"
        for name in ("id", "detail-type", "source", "account", "time", "region", "resources", "detail")
    },
    "InputTemplate": '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": "<time>", "region": "<region>", "resources": <resources>, "detail": <detail>}',
}

BUS = "AWS::Events::EventBus"
RULE = "AWS::Events::Rule"
CONFIGURATION_SET = "AWS::SES::ConfigurationSet"
EVENT_DESTINATION = "AWS::SES::ConfigurationSetEventDestination"


@contextlib.contextmanager
def already_there() -> Iterator[None]:
    """Let a create call find its resource there already (whatever the service calls that error)."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if "AlreadyExists" not in str(exc.response.get("Error", {}).get("Code", "")):
            raise


def create_event_buses(
    events: Any, template: dict[str, Any], prefix: str, conditions: dict[str, bool]
) -> tuple[dict[str, str], dict[str, str]]:
    """Create every EventBridge bus of the template (e.g. on moto); returns (logical id -> name, what
    `!Ref` gives; "<logical id>.Arn" -> ARN)."""
    names: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical_id in cfn.active(template, BUS, conditions):
        name = f"{prefix}{logical_id}"
        with already_there():  # on a moto server that outlived a run
            events.create_event_bus(Name=name)
        arns[f"{logical_id}.Arn"] = events.describe_event_bus(Name=name)["Arn"]
        names[logical_id] = name
    return names, arns


def create_rules(events: Any, template: dict[str, Any], prefix: str, resolve: cfn.Resolver) -> dict[str, str]:
    """Create every EventBridge rule of the template whose condition holds, with its pattern and its
    targets (their ids and ARNs: retry policies and dead-letter queues are AWS's business); returns
    logical id -> rule name. `resolve` knows the buses and queues created already."""
    names: dict[str, str] = {}
    for logical_id, properties in cfn.active(template, RULE, resolve.conditions).items():
        name = f"{prefix}{logical_id}"
        bus = str(resolve(properties.get("EventBusName", "default")))
        request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": "ENABLED"}
        if "EventPattern" in properties:
            request["EventPattern"] = json.dumps(resolve(properties["EventPattern"]))
        if "ScheduleExpression" in properties:
            request["ScheduleExpression"] = properties["ScheduleExpression"]
        events.put_rule(**request)
        targets = [rule_target(str(t["Id"]), str(resolve(t["Arn"]))) for t in properties.get("Targets", [])]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        names[logical_id] = name
    return names


def rule_target(target_id: str, arn: str) -> dict[str, Any]:
    target: dict[str, Any] = {"Id": target_id, "Arn": arn}
    if arn.split(":")[2:3] == ["sqs"]:
        target["InputTransformer"] = WHOLE_EVENT
    return target


def create_configuration_sets(
    sesv2: Any, template: dict[str, Any], prefix: str, conditions: dict[str, bool]
) -> dict[str, str]:
    """Create every SES configuration set of the template through an SES v2 client; returns logical
    id -> name (what `!Ref` gives)."""
    names: dict[str, str] = {}
    for logical_id in cfn.active(template, CONFIGURATION_SET, conditions):
        name = f"{prefix}{logical_id}"
        with already_there():
            sesv2.create_configuration_set(ConfigurationSetName=name)
        names[logical_id] = name
    return names


def event_destinations(template: dict[str, Any], resolve: cfn.Resolver) -> list[dict[str, Any]]:
    """The configuration sets' event destinations whose condition holds, resolved: each has
    `ConfigurationSetName` and `EventDestination` (MatchingEventTypes, EventBridgeDestination, ...)."""
    return [resolve(properties) for properties in cfn.active(template, EVENT_DESTINATION, resolve.conditions).values()]


def local_environment(
    template_path: Path, refs: dict[str, str], function: str | None = None, parameters: dict[str, str] | None = None
) -> dict[str, str]:
    return cfn.function_environment(cfn.load_template(template_path), function, refs, parameters)
