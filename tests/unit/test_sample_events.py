"""events/ holds a sample for every trigger of every function, in the shape AWS sends, and the
handlers answer them (the same files `sam local invoke -e` takes)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SnsModel, SqsModel

from ripen.core.records import message_key
from ripen.handlers import api
from ripen.models.schedule import ScheduleTick
from ripen_dev.local import cfn
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS, REPO

TEMPLATE = cfn.load_template(REPO / "template.yaml")
FUNCTIONS = cfn.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
# Where the samples of each kind of trigger live, and the model AWS's shape is checked with.
SAMPLES = {
    "HttpApi": ("apigw", APIGatewayProxyEventV2Model),
    "SQS": ("sqs", SqsModel),
    "ScheduleV2": ("schedule", ScheduleTick),
    "SNS": ("sns", SnsModel),
}


def triggers(function: str) -> list[tuple[str, dict]]:
    """(kind, properties) of every trigger: SAM events and event source mappings."""
    found = [(e["Type"], e.get("Properties", {})) for e in FUNCTIONS[function].get("Events", {}).values()]
    for resource in TEMPLATE["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::EventSourceMapping" and properties["FunctionName"] == {"Ref": function}:
            source = TEMPLATE["Resources"][properties["EventSourceArn"]["Fn::GetAtt"][0]]["Type"]
            found.append(({"AWS::SQS::Queue": "SQS"}.get(source, source), properties))
        if resource["Type"] == "AWS::SNS::Subscription" and properties["Endpoint"] == {"Fn::GetAtt": [function, "Arn"]}:
            found.append(("SNS", properties))
    return found


def samples(folder: str) -> list[Path]:
    return sorted((EVENTS / folder).glob("*.json"))


def test_every_trigger_of_every_function_has_a_sample_in_the_shape_aws_sends():
    for function in FUNCTIONS:
        for kind, properties in triggers(function):
            assert kind in SAMPLES, f"{function}: add samples for {kind} triggers to events/ and SAMPLES"
            folder, model = SAMPLES[kind]
            parsed = [model.model_validate_json(path.read_text()) for path in samples(folder)]
            assert parsed, f"no sample in events/{folder}"
            if kind == "HttpApi":
                route = f"{properties['Method']} {properties['Path']}"
                assert route in {p.routeKey for p in parsed}, f"{function}: no sample of {route} in events/apigw"


def test_the_sample_requests_are_routes_of_the_api():
    routes = {
        f"{e['Properties']['Method']} {e['Properties']['Path']}"
        for f in FUNCTIONS.values()
        for e in f.get("Events", {}).values()
        if e["Type"] == "HttpApi"
    }
    for path in samples("apigw"):
        assert json.loads(path.read_text())["routeKey"] in routes, path.name


def with_token(name: str, token: str) -> dict:
    event = json.loads((EVENTS / "apigw" / name).read_text())
    assert event["rawQueryString"] == "token=SIGNED-TOKEN"  # the placeholder the README describes
    event["rawQueryString"] = f"token={token}"
    event["queryStringParameters"] = {"token": token}
    return event


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.mark.parametrize(
    ("sample", "link", "shows"),
    [
        ("unsubscribe-page.json", "unsubscribe", "Unsubscribe"),
        ("preferences-page.json", "preferences", 'value="pause-30"'),
        ("preferences-pause-30.json", "preferences", "paused until April 1, 2026"),
    ],
)
def test_the_api_answers_each_sample_request_with_its_page(stack, sample, link, shows):
    # Given a lead in the trial and the link from their welcome email
    lead = stack.signup("ana@example.com", sequence="trial-nurture")
    now = stack.clock.now()
    links = stack.app.links
    welcome = message_key(lead.lead_id, "trial-nurture", 1, "welcome")
    url = (
        links.unsubscribe(lead.lead_id, "trial-nurture", now, message=welcome)
        if link == "unsubscribe"
        else links.preferences(lead.lead_id, "trial-nurture", now)
    )
    # When API Gateway delivers the sample request with that token
    response = api.handler(with_token(sample, token_of(url)), LambdaContext())
    # Then the lead gets the page, as HTML
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert shows in response["body"]
