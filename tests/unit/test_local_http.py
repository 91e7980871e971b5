"""The local HTTP adapter hands handlers the same event shape API Gateway (HTTP API 2.0) does."""

from __future__ import annotations

import base64
import json
import urllib.request

from ripen_dev.local.http import LocalHttpApi, LocalRequest, LocalResponse, http_api_event


def test_a_form_post_arrives_base64_encoded_with_lowercase_headers():
    event = http_api_event(
        "POST",
        "/leads?src=ad&src=mail",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"email=jane%2Btest%40example.com&name=Jane+Doe",
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"email=jane%2Btest%40example.com&name=Jane+Doe"
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert event["queryStringParameters"] == {"src": "ad,mail"}
    assert event["rawQueryString"] == "src=ad&src=mail"
    assert event["requestContext"]["http"]["method"] == "POST"


def test_a_json_body_arrives_as_text_and_a_bodiless_get_has_no_body_key():
    assert http_api_event("POST", "/x", {"content-type": "application/json"}, b'{"a":1}')["body"] == '{"a":1}'
    event = http_api_event("GET", "/confirm", {}, b"")
    assert "body" not in event
    assert "queryStringParameters" not in event


def test_the_server_answers_with_what_the_handler_returns():
    seen = []

    def handler(event, context):
        seen.append(event)
        return {"statusCode": 303, "headers": {"Location": "/thanks"}, "body": ""}

    with LocalHttpApi(handler, static={}) as url:
        request = urllib.request.Request(
            f"{url}/leads",
            data=b"email=a%40b.example",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(request)
            status, location = 200, None
        except urllib.error.HTTPError as answer:
            status, location = answer.code, answer.headers["location"]
    assert (status, location) == (303, "/thanks")
    assert seen[0]["rawPath"] == "/leads"
    assert json.loads(json.dumps(seen[0]))["isBase64Encoded"] is True


def test_a_local_route_answers_under_its_prefix_and_the_handler_everywhere_else():
    handled = []

    def handler(event, context):
        handled.append(event["rawPath"])
        return {"statusCode": 200, "body": "from the handler"}

    def outbox(request: LocalRequest) -> LocalResponse:
        return LocalResponse(
            200, {"Content-Type": "text/plain"}, f"{request.method} {request.path} {request.form}".encode()
        )

    with LocalHttpApi(handler, routes={"/_dev": outbox}) as url:
        form = urllib.request.Request(f"{url}/_dev/time", data=b"amount=1d", method="POST")
        assert urllib.request.urlopen(form).read() == b"POST /_dev/time {'amount': '1d'}"
        assert urllib.request.urlopen(f"{url}/_dev").read().startswith(b"GET /_dev ")
        assert urllib.request.urlopen(f"{url}/_devices").read() == b"from the handler"
    assert handled == ["/_devices"]
