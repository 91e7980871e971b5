"""Enough of CloudFormation to run template.yaml locally: conditions, intrinsic functions, triggers."""

from __future__ import annotations

import pytest

from ripen_dev.local import cfn, resources
from ripen_dev.local.devstack.triggers import load_handler
from tests.conftest import REPO

TEMPLATE = cfn.load_template(REPO / "template.yaml")
REQUIRED = {
    "SenderCompany": "Acme",
    "SenderPostalAddress": "1 Example Way",
    "SesIdentity": "acme.example",
    "AllowedOrigins": "https://acme.example,https://www.acme.example",
}


def test_conditions_follow_the_parameters():
    default = cfn.conditions(TEMPLATE, REQUIRED)
    assert default["SesEventsViaEventBridge"] is True
    assert default["SesEventsViaSns"] is False
    assert default["HasSalesWebhook"] is False
    assert default["IsProd"] is False
    via_sns = cfn.conditions(TEMPLATE, {**REQUIRED, "SesEventsVia": "SNS", "Stage": "prod"})
    assert (via_sns["SesEventsViaEventBridge"], via_sns["SesEventsViaSns"], via_sns["IsProd"]) == (False, True, True)


def test_only_resources_whose_condition_holds_are_created():
    default = cfn.conditions(TEMPLATE, REQUIRED)
    assert set(cfn.active(TEMPLATE, resources.RULE, default)) == {"SesEventsRule", "LeadEventsRule"}
    assert "SalesWebhookDeadLetterQueue" not in cfn.active(TEMPLATE, resources.QUEUE, default)
    assert {"SendQueue", "EngagementQueue"} <= set(cfn.active(TEMPLATE, resources.QUEUE, default))
    via_sns = cfn.conditions(TEMPLATE, {**REQUIRED, "SesEventsVia": "SNS"})
    assert set(cfn.active(TEMPLATE, resources.RULE, via_sns)) == {"LeadEventsRule"}


def test_the_ses_events_rule_resolves_to_the_local_configuration_set_and_queue():
    resolve = cfn.Resolver(
        TEMPLATE,
        refs={"NurtureConfigurationSet": "dev-nurture"},
        attributes={
            "EngagementQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:dev-EngagementQueue",
            "EngagementDeadLetterQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:dev-EngagementDeadLetterQueue",
        },
        parameters=REQUIRED,
    )
    rule = cfn.active(TEMPLATE, resources.RULE, resolve.conditions)["SesEventsRule"]
    pattern = resolve(rule["EventPattern"])
    assert pattern["source"] == ["aws.ses"]
    assert pattern["detail"]["mail"]["tags"]["ses:configuration-set"] == ["dev-nurture"]
    assert resolve(rule["Targets"][0]["Arn"]).endswith(":dev-EngagementQueue")
    [destination] = resources.event_destinations(TEMPLATE, resolve)
    assert destination["ConfigurationSetName"] == "dev-nurture"
    assert destination["EventDestination"]["EventBridgeDestination"]["EventBusArn"].endswith(":event-bus/default")


def test_sub_and_join_resolve_and_what_only_aws_knows_does_not():
    resolve = cfn.Resolver(TEMPLATE, refs={}, parameters=REQUIRED, pseudo={"AWS::StackName": "ripen-dev"})
    assert resolve({"Fn::Sub": "${AWS::StackName}-sales"}) == "ripen-dev-sales"
    assert resolve({"Fn::Join": [",", {"Ref": "AllowedOrigins"}]}) == "https://acme.example,https://www.acme.example"
    with pytest.raises(cfn.UnresolvedError, match="HttpApi"):
        resolve({"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"})


def test_every_trigger_names_a_handler_that_imports():
    assert set(cfn.functions_with_event(TEMPLATE, "HttpApi")) == {"ApiFunction"}
    assert set(cfn.functions_with_event(TEMPLATE, "ScheduleV2")) == {"NurtureFunction"}
    mappings = cfn.resources_of_type(TEMPLATE, "AWS::Lambda::EventSourceMapping").values()
    assert {(cfn.ref_target(m["FunctionName"]), cfn.ref_target(m["EventSourceArn"])) for m in mappings} == {
        ("NurtureFunction", "SendQueue"),
        ("NurtureFunction", "EngagementQueue"),
        ("EventsFunction", "EventsQueue"),
    }
    for function in ("ApiFunction", "NurtureFunction", "EventsFunction"):
        assert callable(load_handler(cfn.function_handler(TEMPLATE, function)))
