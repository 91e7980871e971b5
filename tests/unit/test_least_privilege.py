"""Each function's role allows only what its code uses, on the resources it names: judged on
template.yaml as the SAM transform expands it (tests/support/iam.py), for every function there is."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ripen_dev.local import cfn
from tests.conftest import REPO
from tests.support import iam
from tests.support.reach import reach

TEMPLATE = cfn.load_template(REPO / "template.yaml")
FUNCTIONS = cfn.resources_of_type(TEMPLATE, iam.FUNCTION)
# Deploy-time values for the parameters that have no default (any value will do for the transform).
PARAMETERS = {name: "acme.example" for name, p in TEMPLATE["Parameters"].items() if "Default" not in p}


def handler_module(function: str) -> str:
    return FUNCTIONS[function]["Handler"].rpartition(".")[0]


def variables_of(template: dict, function: str) -> dict:
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    variables.update(template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))
    return variables


def named_by_code(template: dict) -> dict[str, set[str]]:
    """For each function: what the environment variables its code reads point at."""
    named = {}
    for function in cfn.resources_of_type(template, iam.FUNCTION):
        reads = reach(REPO / "functions", handler_module(function)).variables
        values = variables_of(template, function)
        named[function] = iam.references([values[name] for name in reads if name in values])
    return named


def judge(template: dict) -> list[str]:
    used = iam.dynamodb_actions_in(REPO / "functions" / "ripen" / "adapters")
    return [str(p) for p in iam.problems(template, PARAMETERS, named_by_code(template), dynamodb_used=used)]


def test_every_function_gets_only_what_its_code_uses_on_the_resources_it_names():
    assert FUNCTIONS, "template.yaml declares no function"
    assert judge(TEMPLATE) == []


def test_sending_is_allowed_from_the_identity_through_the_configuration_set_only():
    # Given the sender's statement as CloudFormation will create it
    expanded = iam.expand(TEMPLATE, PARAMETERS)
    role = expanded["Resources"]["NurtureFunctionRole"]
    [send] = [s for s in iam._statements(role) if iam.SEND_ACTIONS & set(s["Action"])]
    # Then it names the identity and the configuration set, and only From addresses of the identity
    assert iam.references(send["Resource"]) == {"SesIdentity", "NurtureConfigurationSet"}
    assert send["Condition"]["StringLike"]["ses:FromAddress"] == [
        {"Fn::Sub": "*@${SesIdentity}"},  # a domain identity: any address at the domain
        {"Ref": "SesIdentity"},  # an address identity: that address
    ]


# -- the judge catches what it is there to catch -------------------------------------------------------


def with_changes(change) -> dict:
    template = copy.deepcopy(TEMPLATE)
    change(template["Resources"])
    return template


def test_a_sam_sqs_event_is_refused_because_it_brings_a_policy_on_every_queue():
    def sqs_event(resources):
        resources["NurtureFunction"]["Properties"]["Events"] = {
            "SendJobs": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["SendQueue", "Arn"]}}}
        }

    assert any("AWSLambdaSQSQueueExecutionRole" in p for p in judge(with_changes(sqs_event)))


def test_a_grant_on_a_secret_the_code_never_names_is_refused():
    def extra_secret(resources):
        resources["OtherSecret"] = {"Type": "AWS::SecretsManager::Secret", "Properties": {}}
        resources["ApiFunction"]["Properties"]["Policies"].append(
            {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "OtherSecret"}}}
        )

    assert judge(with_changes(extra_secret)) == [
        "ApiFunction: ['secretsmanager:GetSecretValue'] on OtherSecret, which its code never names"
    ]


def test_sending_without_the_from_address_condition_or_on_any_identity_is_refused():
    def loosen(resources):
        policies = resources["NurtureFunction"]["Properties"]["Policies"]
        statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
        [statement] = [s for s in statements if "ses:SendEmail" in s["Action"]]
        del statement["Condition"]
        statement["Resource"].append({"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:*"})

    found = judge(with_changes(loosen))
    assert any("without an ses:FromAddress condition" in p for p in found)
    assert any("name the resource" in p for p in found)


@pytest.mark.parametrize("resource", ["*", "arn:aws:dynamodb:*:*:table/*"])
def test_a_wildcard_where_a_table_arn_is_known_is_refused(resource):
    def wildcard(resources):
        resources["ApiFunction"]["Properties"]["Policies"].append(
            {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": resource}]}
        )

    assert any("name the resource" in p for p in judge(with_changes(wildcard)))


def test_metrics_may_be_put_on_any_resource_since_iam_cannot_scope_them():
    def put_metrics(resources):
        resources["ApiFunction"]["Properties"]["Policies"].append(
            {"Statement": [{"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}]}
        )

    assert judge(with_changes(put_metrics)) == []


def test_the_reach_of_a_handler_follows_the_app_parts_it_uses():
    # The api never sends email: its code cannot name the configuration set or the sender's settings
    api = reach(REPO / "functions", handler_module("ApiFunction"))
    assert {"SES_CONFIGURATION_SET", "SENDER_POSTAL_ADDRESS", "PUBLIC_BASE_URL"}.isdisjoint(api.variables)
    assert "ripen.mail.compose" not in api.modules
    sender = reach(REPO / "functions", handler_module("NurtureFunction"))
    assert {"SES_CONFIGURATION_SET", "SENDER_POSTAL_ADDRESS", "PUBLIC_BASE_URL"} <= sender.variables
    assert Path(REPO / "functions" / "ripen" / "mail" / "compose.py").exists()


def test_tracing_brings_only_the_write_only_xray_policy_and_no_other_managed_policy():
    # Given every function's tracing set by the Tracing parameter (Globals), as the SAM transform expands it
    expanded = iam.expand(TEMPLATE, PARAMETERS)
    for function in FUNCTIONS:
        role = expanded["Resources"][f"{function}Role"]["Properties"]
        # Then its role has the X-Ray write policy next to the logs one, and nothing broader
        names = {json.dumps(arn).rstrip('"').rsplit("/", 1)[-1] for arn in role.get("ManagedPolicyArns", [])}
        assert names == {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}, function


def test_the_store_calls_no_scan_delete_or_batch_write_so_no_role_may_either():
    used = iam.dynamodb_actions_in(REPO / "functions" / "ripen" / "adapters")
    assert used >= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert used.isdisjoint({"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"})


@pytest.mark.parametrize("policy", ["DynamoDBCrudPolicy", "DynamoDBReadPolicy"])
def test_a_sam_dynamodb_policy_template_is_refused_for_the_scan_and_deletes_it_brings(policy):
    def crud(resources):
        resources["ApiFunction"]["Properties"]["Policies"].append({policy: {"TableName": {"Ref": "LeadsTable"}}})

    assert any("dynamodb:Scan" in p and "never calls" in p for p in judge(with_changes(crud)))


def test_a_managed_policy_beyond_logs_and_tracing_is_refused():
    def broad(resources):
        resources["NurtureFunction"]["Properties"]["Policies"].append("AmazonDynamoDBFullAccess")

    assert any("AmazonDynamoDBFullAccess" in p for p in judge(with_changes(broad)))


def test_only_rules_on_the_stacks_sales_bus_may_assume_the_webhook_role():
    # Given every role the template writes by hand for an AWS service
    roles = cfn.resources_of_type(TEMPLATE, "AWS::IAM::Role")
    assert "SalesWebhookRole" in roles
    for name, role in roles.items():
        for statement in role["AssumeRolePolicyDocument"]["Statement"]:
            # Then its trust names the source (no other account's rule can use it as a deputy)
            condition = statement.get("Condition", {})
            keys = {key for test in condition.values() for key in test}
            assert {"aws:SourceArn", "aws:SourceAccount"} <= keys, name
    source = roles["SalesWebhookRole"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnLike"]
    assert "rule/${SalesBus}/" in source["aws:SourceArn"]["Fn::Sub"]


def test_the_http_api_logs_each_request_without_its_query_string_where_the_tokens_are():
    # Given the HTTP API's access log settings
    api = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::HttpApi")["HttpApi"]
    settings = api["AccessLogSettings"]
    group = cfn.resources_of_type(TEMPLATE, "AWS::Logs::LogGroup")["HttpApiAccessLogGroup"]
    # Then every request is logged, for the stack's retention, as JSON
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    line = json.loads(settings["Format"])
    assert {"requestId", "status", "path"} <= set(line)
    # and nothing that carries a token (the query) or points at a person (address, browser)
    assert not any(word in settings["Format"] for word in ("rawPath", "querystring", "sourceIp", "userAgent"))
