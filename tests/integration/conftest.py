"""Integration fixtures: tables on DynamoDB Local (`dynamodb_endpoint`, tests/conftest.py) created
from template.yaml."""

from __future__ import annotations

import uuid

import boto3
import pytest

from ripen.config import Settings
from ripen_dev.local import cfn, resources
from tests.conftest import REPO

TEMPLATE = REPO / "template.yaml"


@pytest.fixture
def dynamo_settings(dynamodb_endpoint: str) -> Settings:
    """Fresh tables for each test, made from the declarations in template.yaml."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    names = resources.create_tables(
        client, cfn.load_template(TEMPLATE), prefix=f"t{uuid.uuid4().hex[:8]}-", expire_items=False
    )
    env = resources.local_environment(TEMPLATE, names)
    env.update(DYNAMODB_ENDPOINT=dynamodb_endpoint, AWS_REGION="us-east-1", TEMPLATES_DIR=str(REPO / "templates"))
    return Settings.from_env(env)


@pytest.fixture
def dynamo_store(dynamo_settings: Settings):
    from ripen.adapters.dynamodb import DynamoStore

    return DynamoStore(dynamo_settings)
