"""Create the resources template.yaml declares on local engines (DynamoDB Local, moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ripen.local import cfn

TABLE = "AWS::DynamoDB::Table"


def create_tables(dynamodb: Any, template: dict[str, Any], prefix: str, expire_items: bool = True) -> dict[str, str]:
    """Create every table of the template through a boto3 DynamoDB client; returns logical id -> name.

    `expire_items=False` leaves TTL off: DynamoDB Local deletes expired items by the real clock,
    which would delete the items of tests that run on a virtual clock."""
    names: dict[str, str] = {}
    for logical_id, properties in cfn.resources_of_type(template, TABLE).items():
        name = f"{prefix}{logical_id}"
        dynamodb.create_table(**cfn.create_table_request(properties, name))
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        ttl = cfn.ttl_attribute(properties)
        if ttl and expire_items:
            spec = {"Enabled": True, "AttributeName": ttl}
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
        names[logical_id] = name
    return names


QUEUE = "AWS::SQS::Queue"
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")


def create_queues(sqs: Any, template: dict[str, Any], prefix: str) -> dict[str, str]:
    """Create every queue of the template through a boto3 SQS client (e.g. moto's); returns logical id -> URL
    (what `!Ref` of a queue gives). Attributes that name other resources (the redrive policy) are left out."""
    urls: dict[str, str] = {}
    for logical_id, properties in cfn.resources_of_type(template, QUEUE).items():
        attributes = {name: str(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties}
        urls[logical_id] = sqs.create_queue(QueueName=f"{prefix}{logical_id}", Attributes=attributes)["QueueUrl"]
    return urls


def local_environment(
    template_path: Path, refs: dict[str, str], function: str | None = None, parameters: dict[str, str] | None = None
) -> dict[str, str]:
    return cfn.function_environment(cfn.load_template(template_path), function, refs, parameters)
