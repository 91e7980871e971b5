"""template.yaml declares what the email functions need: valid CloudFormation, every setting they
read, the queue wiring and the alarm on the metric the sender raises."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

from ripen.adapters import metrics
from ripen.config import Settings
from ripen.handlers import nurture
from ripen.services import sender
from ripen_dev.local import cfn
from tests.conftest import REPO
from tests.support import iam
from tests.support.reach import POWERTOOLS_VARIABLES

TEMPLATE = cfn.load_template(REPO / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
SETTINGS = {field.alias for field in Settings.model_fields.values() if field.alias} - {"AWS_REGION"}


def environment(function: str) -> dict:
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(RESOURCES[function]["Properties"].get("Environment", {}).get("Variables", {}))
    return variables


def test_the_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    done = subprocess.run([str(cfn_lint), str(REPO / "template.yaml")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# cfn-lint's findings on the expansion that are wrong, each with why. SAM's SQSPollerPolicy template
# names sqs:ChangeMessageVisibilityBatch and sqs:DeleteMessageBatch, which are API calls but not IAM
# actions (IAM authorizes them as ChangeMessageVisibility and DeleteMessage): harmless extra names.
NOT_FINDINGS = [
    ("W3037", "'changemessagevisibilitybatch' is not one of"),
    ("W3037", "'deletemessagebatch' is not one of"),
]


def lint_expanded(template: dict) -> list[str]:
    """cfn-lint on the template as CloudFormation receives it after the SAM transform: the locked
    cfn-lint no longer expands SAM resources itself, so the functions' own properties (a Description
    over Lambda's 256 characters, a bad Timeout, ...) are only checked here."""
    from cfnlint.api import ManualArgs, lint

    parameters = {name: "acme.example" for name, p in template["Parameters"].items() if "Default" not in p}
    expanded = iam.expand(template, parameters)
    matches = lint(json.dumps(expanded), config=ManualArgs(regions=["us-east-1"]))
    return [
        f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}"
        for m in matches
        if not any(m.rule.id == rule and m.message.startswith(start) for rule, start in NOT_FINDINGS)
    ]


def test_the_template_as_the_sam_transform_expands_it_passes_cfn_lint():
    assert lint_expanded(TEMPLATE) == []


def test_a_function_description_longer_than_lambda_allows_is_caught_on_the_expansion():
    # Given a function whose description is one character over Lambda's limit (what `sam deploy` refused)
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["NurtureFunction"]["Properties"]["Description"] = "x" * 257
    # Then linting the expansion names it
    assert any(f.startswith("E3033 Resources/NurtureFunction/Properties/Description") for f in lint_expanded(template))


def test_every_function_logs_into_a_log_group_of_its_own_kept_for_the_chosen_retention():
    functions = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
    groups = cfn.resources_of_type(TEMPLATE, "AWS::Logs::LogGroup")
    retention = TEMPLATE["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]
    for function in functions:
        # Given the group Lambda writes the function's logs into (/aws/lambda/<function name>)
        [group] = [
            name for name, g in groups.items() if g["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
        ]
        # Then the stack declares it, with the stack's retention
        assert groups[group]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function
        # and nothing that invokes the function on its own is created before it (Lambda would make the group)
        for name, resource in RESOURCES.items():
            if resource["Type"] == "AWS::Lambda::EventSourceMapping" and resource["Properties"]["FunctionName"] == {
                "Ref": function
            }:
                depends = resource.get("DependsOn", [])
                assert group in ([depends] if isinstance(depends, str) else depends), name


def test_tracing_is_one_parameter_off_by_default_and_the_tracer_follows_it():
    # Given the template as deployed without parameters, and with Tracing=Active
    functions = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
    assert TEMPLATE["Globals"]["Function"]["Tracing"] == {"Ref": "Tracing"}
    assert TEMPLATE["Parameters"]["Tracing"]["Default"] == "PassThrough"
    for function, properties in functions.items():
        assert "Tracing" not in properties, f"{function}: tracing is decided once, by the parameter"
        # Then by default Lambda records no trace and Powertools' Tracer is off (the X-Ray SDK never
        # loads); with Tracing=Active both are on
        assert cfn.function_environment(TEMPLATE, function, {})["POWERTOOLS_TRACE_DISABLED"] == "true"
        traced = cfn.function_environment(TEMPLATE, function, {}, {"Tracing": "Active"})
        assert traced["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_the_email_functions_get_every_setting_they_read_and_nothing_unknown():
    needed = {
        "NurtureFunction": {
            "TEMPLATES_DIR", "TOKEN_SECRET_ARN", "PUBLIC_BASE_URL", "SENDER_COMPANY", "SENDER_POSTAL_ADDRESS",
            "SENDER_WEBSITE", "SES_CONFIGURATION_SET", "UNSUBSCRIBE_MAILTO", "UTM_SOURCE", "SEND_QUEUE_URL",
            "SENDING_STOPPED_SECONDS", "POWERTOOLS_METRICS_NAMESPACE", "LINK_LIFETIME_DAYS",
        },
        "ApiFunction": {
            "TEMPLATES_DIR", "TOKEN_SECRET_ARN", "SENDER_COMPANY", "SENDER_WEBSITE", "SEND_QUEUE_URL",
            "LINK_LIFETIME_DAYS",
        },
    }  # fmt: skip
    for function, names in needed.items():
        variables = set(environment(function))
        assert names <= variables, f"{function} lacks {names - variables}"
        known = SETTINGS | POWERTOOLS_VARIABLES | {"DYNAMODB_ENDPOINT"}
        assert variables <= known, f"{function} sets unknown {variables - known}"
        assert RESOURCES[function]["Properties"]["CodeUri"] == "functions/"


def test_the_sender_consumes_the_send_queue_with_partial_failures_and_a_dead_letter_queue():
    function = RESOURCES["NurtureFunction"]["Properties"]
    # the nurture function, which hands the send queue's records to the sender
    assert function["Handler"] == "ripen.handlers.nurture.handler"
    jobs = json.loads((REPO / "events" / "sqs" / "send-jobs.json").read_text())
    assert nurture.part_for(jobs, "https://sqs.us-east-1.amazonaws.com/123456789012/ripen-SendQueue") == nurture.SENDER
    # an event source mapping of its own (not a SAM SQS event, which grants polling every queue)
    [mapping] = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "NurtureFunction"}
        and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["SendQueue", "Arn"]}
    ]
    event = {**mapping, "Queue": mapping["EventSourceArn"]}
    assert event["Queue"] == {"Fn::GetAtt": ["SendQueue", "Arn"]}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in event["ScalingConfig"]
    queue = RESOURCES["SendQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["SendDeadLetterQueue", "Arn"]}
    # a lease outlives any sender invocation; a job outlives any invocation before it is redelivered
    assert sender.LEASE.total_seconds() > function["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_sending_is_limited_to_the_identity_and_configuration_set():
    statements = [p["Statement"] for p in RESOURCES["NurtureFunction"]["Properties"]["Policies"] if "Statement" in p]
    [ses] = [s for statement in statements for s in statement if "ses:SendEmail" in s["Action"]]
    assert set(ses["Action"]) == {"ses:SendEmail", "ses:SendRawEmail"}
    resources = [r["Fn::Sub"] for r in ses["Resource"]]
    assert any(":identity/${SesIdentity}" in r for r in resources)
    assert any(":configuration-set/${NurtureConfigurationSet}" in r for r in resources)
    reputation = RESOURCES["NurtureConfigurationSet"]["Properties"]["ReputationOptions"]
    assert reputation == {"ReputationMetricsEnabled": True}


def test_the_alarm_watches_the_metric_the_sender_raises_when_ses_stops_sending():
    alarm = RESOURCES["SendingStoppedAlarm"]["Properties"]
    assert alarm["MetricName"] == sender.STOPPED
    assert alarm["Namespace"] == environment("NurtureFunction")["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": metrics.SERVICE}]


def test_the_api_routes_unsubscribe_and_preferences_to_the_api_function():
    function = RESOURCES["ApiFunction"]["Properties"]
    assert function["Handler"] == "ripen.handlers.api.handler"
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in function["Events"].values()}
    assert {
        ("GET", "/unsubscribe"),
        ("POST", "/unsubscribe"),
        ("GET", "/preferences"),
        ("POST", "/preferences"),
    } <= routes
