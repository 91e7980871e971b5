"""template.yaml wires SES events to the engagement function (EventBridge by default, SNS as an
option), declares the sales bus and the optional webhook, and the alarms on what the function counts."""

from __future__ import annotations

from ripen.config import Settings
from ripen.handlers import nurture
from ripen.models import ses
from ripen.services import engagement, handoffs
from ripen_dev.local import cfn
from tests.conftest import REPO
from tests.support.reach import POWERTOOLS_VARIABLES

TEMPLATE = cfn.load_template(REPO / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
SETTINGS = {field.alias for field in Settings.model_fields.values() if field.alias}
ALL_EVENT_TYPES = {
    "send", "reject", "bounce", "complaint", "delivery", "open", "click", "renderingFailure", "deliveryDelay",
    "subscription",
}  # fmt: skip


def props(name: str) -> dict:
    return RESOURCES[name]["Properties"]


def test_the_engagement_function_reads_a_queue_with_partial_failures_and_a_dead_letter_queue():
    function = props("NurtureFunction")
    assert (function["CodeUri"], function["Handler"]) == ("functions/", "ripen.handlers.nurture.handler")
    arn = "arn:aws:sqs:us-east-1:123456789012:ripen-EngagementQueue"
    body = (REPO / "events" / "ses" / "eventbridge" / "open.json").read_text()
    event = {"Records": [{"eventSource": "aws:sqs", "eventSourceARN": arn, "body": body}]}
    assert nurture.part_for(event, "https://sqs.us-east-1.amazonaws.com/123456789012/ripen-SendQueue") == "engagement"
    # an event source mapping of its own (not a SAM SQS event, which grants polling every queue)
    source = RESOURCES["SesEvents"]["Properties"]
    assert source["FunctionName"] == {"Ref": "NurtureFunction"}
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["EngagementQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BatchSize"] > 10
    assert source["MaximumBatchingWindowInSeconds"] >= 1  # events of one email land in one batch
    queue = props("EngagementQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EngagementDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_the_engagement_function_gets_every_setting_it_reads_and_nothing_unknown():
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(props("NurtureFunction")["Environment"]["Variables"])
    needed = {
        "LEADS_TABLE", "ENROLLMENTS_TABLE", "MESSAGES_TABLE", "HISTORY_TABLE", "STATS_TABLE", "TEMPLATES_DIR",
        "SEND_QUEUE_URL", "SALES_BUS_NAME", "SOFT_BOUNCE_LIMIT", "SOFT_BOUNCE_WINDOW_DAYS", "MACHINE_OPEN_SECONDS",
        "SCANNER_CLICK_SECONDS", "POWERTOOLS_METRICS_NAMESPACE",
    }  # fmt: skip
    assert needed <= set(variables)
    assert set(variables) <= SETTINGS | POWERTOOLS_VARIABLES
    assert variables["SALES_BUS_NAME"] == {"Ref": "SalesBus"}
    # the template's values are the documented defaults
    defaults = Settings.model_validate({"LEADS_TABLE": "l", "ENROLLMENTS_TABLE": "e", "MESSAGES_TABLE": "m",
                                        "HISTORY_TABLE": "h", "STATS_TABLE": "s"})  # fmt: skip
    assert int(variables["SOFT_BOUNCE_LIMIT"]) == defaults.soft_bounce_limit
    assert int(variables["MACHINE_OPEN_SECONDS"]) == defaults.machine_open_seconds
    assert int(variables["SCANNER_CLICK_SECONDS"]) == defaults.scanner_click_seconds


def test_by_default_ses_publishes_every_event_type_to_eventbridge_and_a_rule_queues_them():
    destination = RESOURCES["SesEventsToEventBridge"]
    assert destination["Condition"] == "SesEventsViaEventBridge"
    spec = destination["Properties"]["EventDestination"]
    assert destination["Properties"]["ConfigurationSetName"] == {"Ref": "NurtureConfigurationSet"}
    assert set(spec["MatchingEventTypes"]) == ALL_EVENT_TYPES
    assert spec["EventBridgeDestination"]["EventBusArn"]["Fn::Sub"].endswith(":event-bus/default")
    assert TEMPLATE["Parameters"]["SesEventsVia"]["Default"] == "EventBridge"
    rule = props("SesEventsRule")
    assert rule["EventPattern"]["source"] == [ses.SOURCE]
    assert rule["EventPattern"]["detail-type"] == list(ses.DETAIL_TYPES)
    # only this stack's configuration set: other SES traffic in the account is not ours
    assert rule["EventPattern"]["detail"]["mail"]["tags"]["ses:configuration-set"] == [
        {"Ref": "NurtureConfigurationSet"}
    ]
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["EngagementQueue", "Arn"]}


def test_the_sns_variant_subscribes_the_same_queue_behind_a_parameter():
    for name in ("SesEventsTopic", "SesEventsToSns", "SesEventsSubscription", "SesEventsTopicPolicy"):
        assert RESOURCES[name]["Condition"] == "SesEventsViaSns", name
    assert set(props("SesEventsToSns")["EventDestination"]["MatchingEventTypes"]) == ALL_EVENT_TYPES
    subscription = props("SesEventsSubscription")
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["EngagementQueue", "Arn"]}
    assert subscription["RawMessageDelivery"] is False  # the handler reads SNS notifications from the queue


def test_hand_offs_go_on_a_sales_bus_the_functions_may_only_put_events_on():
    assert RESOURCES["SalesBus"]["Type"] == "AWS::Events::EventBus"
    for function in ("NurtureFunction", "ApiFunction"):
        policies = props(function)["Policies"]
        assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "SalesBus"}}} in policies
        assert not any("Statement" in p and "events:" in str(p) for p in policies), function


def test_the_webhook_is_an_api_destination_that_exists_only_with_a_url():
    assert TEMPLATE["Parameters"]["SalesWebhookUrl"]["Default"] == ""
    for name in ("SalesWebhookConnection", "SalesWebhookDestination", "SalesWebhookRule", "SalesWebhookRole"):
        assert RESOURCES[name]["Condition"] == "HasSalesWebhook", name
    assert props("SalesWebhookDestination")["InvocationEndpoint"] == {"Ref": "SalesWebhookUrl"}
    rule = props("SalesWebhookRule")
    assert rule["EventBusName"] == {"Ref": "SalesBus"}
    assert rule["EventPattern"] == {"source": [handoffs.SOURCE], "detail-type": [handoffs.DETAIL_TYPE]}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["SalesWebhookDestination", "Arn"]}
    assert target["InputPath"] == "$.detail"
    assert "DeadLetterConfig" in target


def test_alarms_watch_the_metrics_the_engagement_function_raises():
    watched = {
        props(name)["MetricName"]: name for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert engagement.EMAILS_REJECTED in watched
    assert engagement.RENDERING_FAILURES in watched
    assert handoffs.PUBLISH_FAILED in watched
    dead_letters = props("EngagementDeadLetterAlarm")
    assert dead_letters["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EngagementDeadLetterQueue", "QueueName"]}
