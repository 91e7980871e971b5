"""Helpers for the operator-command tests: a stack on DynamoDB Local whose app is also the operator's
(the same composition root `ripen.app.App` the commands get from `Target.app()`), and a scan of every
table template.yaml declares."""

from __future__ import annotations

from typing import Any

import boto3

from ripen.adapters.dynamodb import DynamoStore
from ripen.adapters.stats import DynamoStats
from ripen.config import Settings
from ripen.core.validator import Catalog
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.local import cfn
from tests.conftest import REPO
from tests.support.mailstack import ENV, Stack, make_stack

TABLES = sorted(cfn.resources_of_type(cfn.load_template(REPO / "template.yaml"), "AWS::DynamoDB::Table"))


def operated_stack(settings: Settings, clock: ManualClock, catalog: Catalog) -> Stack:
    """Every table of `settings` (limits too), with the test keys of the mail stack."""
    env = {
        **ENV,
        "LEADS_TABLE": settings.leads_table,
        "ENROLLMENTS_TABLE": settings.enrollments_table,
        "MESSAGES_TABLE": settings.messages_table,
        "HISTORY_TABLE": settings.history_table,
        "STATS_TABLE": settings.stats_table,
        "LIMITS_TABLE": settings.limits_table or table_of(settings, "LimitsTable"),
        "DYNAMODB_ENDPOINT": settings.dynamodb_endpoint or "",
        "AWS_REGION": settings.region,
    }
    stats = DynamoStats(settings.stats_table, settings.region, settings.dynamodb_endpoint)
    return make_stack(DynamoStore(settings), clock, catalog, env=env, stats=stats)


def table_of(settings: Settings, logical_id: str) -> str:
    """The test's name of a table template.yaml declares (tests name them prefix + logical id)."""
    return settings.leads_table.removesuffix("LeadsTable") + logical_id


def scan_every_table(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table template.yaml declares (tables are named prefix + logical id)."""
    client = boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.region)
    found: dict[str, list[dict[str, Any]]] = {}
    for logical_id in TABLES:
        pages = client.get_paginator("scan").paginate(TableName=table_of(settings, logical_id), ConsistentRead=True)
        found[logical_id] = [item for page in pages for item in page["Items"]]
    return found


def tables_mentioning(settings: Settings, *needles: str) -> dict[str, list[str]]:
    """For each needle found anywhere in an item (keys, values, nested), the tables it is in."""
    hits: dict[str, list[str]] = {}
    for table, items in scan_every_table(settings).items():
        text = repr(items).lower()
        for needle in needles:
            if needle.lower() in text:
                hits.setdefault(needle, []).append(table)
    return hits
