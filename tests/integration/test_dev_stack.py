"""`ripen dev`: the stack from template.yaml on DynamoDB Local and moto, its functions wired as in AWS,
its outbox, and its life (kept data, Ctrl-C). Driven over HTTP, as a browser or a mailbox provider would."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ripen.core.records import LeadStatus
from ripen.core.state import Status
from ripen_dev.local.devstack.ses import OutboxEmail
from ripen_dev.local.devstack.stack import DevStack
from ripen_dev.local.devstack.triggers import QueueTrigger
from ripen_dev.local.dynamodb_local import free_port
from ripen_dev.local.http import LambdaContext
from tests.conftest import REPO
from tests.support.capture import next_monday
from tests.support.devstack import dev_options
from tests.support.ids import LEAD_ID_KEY, lead_id_for

pytestmark = pytest.mark.integration

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)


@pytest.fixture(autouse=True)
def _pinned_lead_id_key(monkeypatch):
    """The dev stack takes its lead-id key from the environment: pinned, ids are known in advance."""
    monkeypatch.setenv("LEAD_ID_SECRET", LEAD_ID_KEY)


@dataclass
class Answer:
    status: int
    location: str | None
    text: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(url: str, form: dict[str, str] | None = None, json_body: object = None) -> Answer:
    data, headers = None, {}
    if form is not None:
        data, headers = urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers)) as answer:
            return Answer(answer.status, answer.headers.get("location"), answer.read().decode())
    except urllib.error.HTTPError as answer:
        return Answer(answer.code, answer.headers.get("location"), answer.read().decode())


@pytest.fixture
def stack(dynamodb_endpoint, moto_endpoint) -> Iterator[DevStack]:
    # A Monday, 12:00 UTC: inside trial-nurture's send window (09:00-17:00 in the lead's zone, UTC here).
    options = dev_options(
        start=next_monday(12),
        dynamodb_endpoint=dynamodb_endpoint,
        moto_endpoint=moto_endpoint,
        parameters={"DueShards": "1"},  # fewer due-index queries: a fresh table's first ones are slow locally
    )
    with DevStack(options) as running:
        yield running


def sign_up(stack: DevStack, email: str = ANA) -> OutboxEmail:
    """Sign up through the API (JSON, as the landing page's script does); returns the confirmation email."""
    answer = request(
        f"{stack.url}/leads",
        json_body={"email": email, "name": "Ana", "consent": "yes", "tz": "UTC", "sequence": "trial-nurture"},
    )
    assert answer.status == 201, answer.text
    stack.settle()
    [confirmation] = [sent for sent in stack.mail.all() if sent.to == (email,)]
    return confirmation


def confirm(stack: DevStack, confirmation: OutboxEmail) -> OutboxEmail:
    """Press the button on the confirm page; returns the welcome email."""
    [link] = [link for link in confirmation.links if link.name == "confirm"]
    token = parse_qs(urlsplit(link.href).query)["token"][0]
    assert request(f"{stack.url}/confirm", form={"token": token}).status == 200
    stack.settle()
    return emails_of(stack)[-1]


def emails_of(stack: DevStack, lead_id: str = ANA_ID) -> list[OutboxEmail]:
    return sorted(stack.mail.of_lead(lead_id), key=lambda sent: sent.sent_at)


def test_a_signup_is_emailed_through_ses_and_its_events_come_back_through_eventbridge(stack):
    # When Ana signs up through the API
    confirmation = sign_up(stack)
    # Then SES (moto) accepted the confirmation email the sender rendered, with the sender's tags
    assert confirmation.subject == "Please confirm your email address"
    assert (confirmation.kind, confirmation.sequence, confirmation.step) == ("confirmation", "trial-nurture", "confirm")
    assert confirmation.configuration_set is not None
    assert confirmation.configuration_set.endswith("NurtureConfigurationSet")
    # And its Send and Delivery went SES -> EventBridge rule (template.yaml) -> engagement queue -> function
    assert [event.kind for event in confirmation.events] == ["send", "delivery"]
    message = stack.running_app.store.get_message(confirmation.message_key or "")
    assert message is not None
    assert message.ses_message_id == confirmation.ses_message_id
    assert message.activity.delivered_at == confirmation.time_of("delivery")
    # And the outbox lists the lead and the email, and the log names no address
    page = request(stack.outbox_url)
    assert page.status == 200
    assert "Please confirm your email address" in page.text
    assert f"/_dev/leads/{ANA_ID}" in page.text
    assert not any(ANA in line for line in stack.log.lines)


def test_the_outbox_moves_time_and_the_sweep_sends_the_next_email(stack):
    confirm(stack, sign_up(stack))
    assert [sent.step for sent in emails_of(stack)] == ["confirm", "welcome"]
    before = stack.clock.now()
    answer = request(f"{stack.url}/_dev/time", form={"amount": "1d", "back": f"/_dev/leads/{ANA_ID}"})
    assert (answer.status, answer.location) == (303, f"/_dev/leads/{ANA_ID}")
    assert stack.clock.now() - before >= timedelta(days=1)
    assert [sent.step for sent in emails_of(stack)] == ["confirm", "welcome", "first-dashboard"]
    # The custom amount, and a refusal of nonsense
    assert request(f"{stack.url}/_dev/time", form={"amount": "custom", "count": "2", "unit": "days"}).status == 303
    assert [sent.step for sent in emails_of(stack)][-1] == "case-study"
    assert request(f"{stack.url}/_dev/time", form={"amount": "custom", "count": "-3", "unit": "days"}).status == 400


def test_a_hard_bounce_from_the_outbox_suppresses_the_lead_and_nothing_more_goes_out(stack):
    welcome = confirm(stack, sign_up(stack))
    assert welcome.step == "welcome"
    answer = request(f"{stack.url}/_dev/emails/{welcome.ses_message_id}/events", form={"event": "bounce"})
    assert (answer.status, answer.location) == (303, f"/_dev/leads/{ANA_ID}")
    store = stack.running_app.store
    lead = store.get_lead(ANA_ID)
    assert lead is not None
    assert lead.status is LeadStatus.SUPPRESSED
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.status is Status.SUPPRESSED
    request(f"{stack.url}/_dev/time", form={"amount": "3d"})
    assert [sent.step for sent in emails_of(stack)] == ["confirm", "welcome"]
    assert "bounced (Permanent/General)" in request(f"{stack.url}/_dev/leads/{ANA_ID}").text


def test_unsubscribe_in_the_outbox_is_the_one_click_post_to_the_list_unsubscribe_address(stack):
    welcome = confirm(stack, sign_up(stack))
    assert welcome.unsubscribe_url is not None
    answer = request(f"{stack.url}/_dev/emails/{welcome.ses_message_id}/events", form={"event": "unsubscribe"})
    assert answer.status == 303
    lead = stack.running_app.store.get_lead(ANA_ID)
    assert lead is not None
    assert lead.status is LeadStatus.UNSUBSCRIBED
    assert any(re.search(r"api\s+POST /unsubscribe -> 200", line) for line in stack.log.lines)
    request(f"{stack.url}/_dev/time", form={"amount": "3d"})
    assert [sent.step for sent in emails_of(stack)] == ["confirm", "welcome"]


def test_with_manual_delivery_the_outbox_button_reports_the_delivery(dynamodb_endpoint, moto_endpoint):
    options = dev_options(
        start=next_monday(12),
        dynamodb_endpoint=dynamodb_endpoint,
        moto_endpoint=moto_endpoint,
        parameters={"DueShards": "1"},
        deliver=False,
    )
    with DevStack(options) as stack:
        confirmation = sign_up(stack)
        assert [event.kind for event in confirmation.events] == ["send"]
        assert 'value="delivery"' in request(f"{stack.url}/_dev/emails/{confirmation.ses_message_id}").text
        request(f"{stack.url}/_dev/emails/{confirmation.ses_message_id}/events", form={"event": "delivery"})
        assert [event.kind for event in confirmation.events] == ["send", "delivery"]
        message = stack.running_app.store.get_message(confirmation.message_key or "")
        assert message is not None
        assert message.activity.delivered_at == confirmation.time_of("delivery")
        assert 'value="delivery"' not in request(f"{stack.url}/_dev/emails/{confirmation.ses_message_id}").text


def test_a_product_event_from_the_outbox_reaches_the_goal_through_the_events_bus(stack):
    # Given Ana two emails into the trial
    confirm(stack, sign_up(stack))
    request(f"{stack.url}/_dev/time", form={"amount": "1d"})
    page = request(f"{stack.url}/_dev/leads/{ANA_ID}")
    assert "Product event" in page.text
    assert '<option value="trial_converted">' in page.text  # the names the sequences use
    # When the outbox's product-event control reports that she converted
    answer = request(
        f"{stack.url}/_dev/leads/{ANA_ID}/event", form={"name": "trial_converted", "properties": '{"plan": "team"}'}
    )
    # Then the event went bus -> rule (template.yaml) -> events queue -> events function, and ended the trial
    assert (answer.status, answer.location) == (303, f"/_dev/leads/{ANA_ID}")
    record = stack.running_app.store.get_enrollment(ANA_ID, "trial-nurture")
    assert record.enrollment.status is Status.GOAL_REACHED
    assert "goal &#39;trial_converted&#39; reached" in request(f"{stack.url}/_dev/leads/{ANA_ID}").text
    # And nothing more goes out; and nonsense is refused
    request(f"{stack.url}/_dev/time", form={"amount": "3d"})
    assert [sent.step for sent in emails_of(stack)] == ["confirm", "welcome", "first-dashboard"]
    assert request(f"{stack.url}/_dev/leads/{ANA_ID}/event", form={"name": "Not A Name"}).status == 400
    bad = request(f"{stack.url}/_dev/leads/{ANA_ID}/event", form={"name": "demo_booked", "properties": "[1]"})
    assert bad.status == 400
    assert not any(ANA in line for line in stack.log.lines)


def test_an_email_page_shows_the_parts_headers_and_a_button_per_named_link(stack):
    confirm(stack, sign_up(stack))
    request(f"{stack.url}/_dev/time", form={"amount": "1d"})
    request(f"{stack.url}/_dev/time", form={"amount": "custom", "count": "2", "unit": "days"})
    case_study = next(sent for sent in emails_of(stack) if sent.step == "case-study")
    page = request(f"{stack.url}/_dev/emails/{case_study.ses_message_id}").text
    assert "How Fernhill cut churn 17% with one cohort chart" in page
    assert 'value="click:pricing"' in page
    assert 'value="click:case-study"' in page
    assert "List-Unsubscribe-Post" in page
    html = request(f"{stack.url}/_dev/emails/{case_study.ses_message_id}/html")
    assert html.status == 200
    assert '<base target="_top">' in html.text
    assert request(f"{stack.url}/_dev/emails/{case_study.ses_message_id}/eml").text.startswith("From: ")
    assert request(f"{stack.url}/_dev/emails/nope").status == 404


def click(stack: DevStack, sent: OutboxEmail, link: str) -> None:
    answer = request(f"{stack.url}/_dev/emails/{sent.ses_message_id}/events", form={"event": f"click:{link}"})
    assert answer.status == 303, answer.text


def test_a_lead_ripe_for_sales_is_handed_off_on_the_sales_bus_and_the_outbox_shows_it(stack):
    confirm(stack, sign_up(stack))
    request(f"{stack.url}/_dev/time", form={"amount": "1d"})
    request(f"{stack.url}/_dev/time", form={"amount": "custom", "count": "2", "unit": "days"})
    case_study = emails_of(stack)[-1]
    assert case_study.step == "case-study"
    click(stack, case_study, "pricing")  # +20, the branch to pricing-followup
    request(f"{stack.url}/_dev/leads/{ANA_ID}/next", form={})  # past the frequency cap
    followup = emails_of(stack)[-1]
    assert followup.step == "pricing-followup"
    click(stack, followup, "demo")  # +25
    assert stack.inboxes[0].events == []
    click(stack, followup, "pricing")  # +20: over trial-nurture's sales_ready score of 50
    [event] = [event for inbox in stack.inboxes for event in inbox.events]
    assert event["detail-type"] == "Lead Sales Ready"
    assert (event["detail"]["lead_id"], event["detail"]["sequence"]) == (ANA_ID, "trial-nurture")
    assert event["detail"]["score"] >= 50
    record = stack.running_app.store.get_enrollment(ANA_ID, "trial-nurture")
    assert record.enrollment.status is Status.SALES_READY
    outbox = request(stack.outbox_url).text
    assert "Lead Sales Ready" in outbox
    assert any(re.search(rf"sales\s+Lead Sales Ready: {ANA_ID}", line) for line in stack.log.lines)


def test_a_queue_function_gets_back_only_the_records_it_reported_failed(moto_endpoint):
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"dev-trigger-{free_port()}", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for body in ("one", "two", "bad"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    seen: list[list[str]] = []

    def handler(event, context):
        seen.append([record["body"] for record in event["Records"]])
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
        }

    trigger = QueueTrigger("Fn", handler, LambdaContext, sqs, url, "arn:aws:sqs:us-east-1:123456789012:q", 10)
    batch = trigger.poll()
    assert batch is not None
    assert (batch.received, batch.failed) == (3, 1)
    assert sorted(seen[0]) == ["bad", "one", "two"]

    def failing(event, context):
        raise RuntimeError("down")

    trigger.handler = failing
    failed = trigger.poll()
    assert failed is not None
    assert failed.error == "RuntimeError: down"
    trigger.handler = handler
    again = trigger.poll()
    assert again is not None
    assert seen[-1] == ["bad"]  # the raising invocation deleted nothing


def test_persisted_data_time_and_links_survive_a_restart(moto_endpoint, tmp_path):
    options = dev_options(
        start=next_monday(12), moto_endpoint=moto_endpoint, persist=tmp_path / "dev-data", parameters={"DueShards": "1"}
    )
    with DevStack(options) as first:
        confirmation = sign_up(first)
        first.move_time(timedelta(hours=2))  # 14:00 UTC, Ana's zone: still in the send window
        then = first.clock.now()
    with DevStack(options) as second:
        # the lead (DynamoDB Local's files), the email (the outbox file) and the clock are back
        assert second.running_app.store.get_lead(ANA_ID) is not None
        assert [sent.ses_message_id for sent in second.mail.all()] == [confirmation.ses_message_id]
        assert second.clock.now() >= then
        # and the link in the kept email still works: the same signing key
        welcome = confirm(second, second.mail.all()[0])
        assert welcome.step == "welcome"


def test_ripen_dev_serves_until_ctrl_c_then_stops_everything(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ripen_dev.cli", "dev", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(90), "".join(lines)
        banner = "".join(lines)
        assert f"landing page   http://localhost:{port}/" in banner
        assert f"outbox         http://localhost:{port}/_dev" in banner
        assert "Start your free" in request(f"http://127.0.0.1:{port}/").text
        assert request(f"http://127.0.0.1:{port}/_dev").status == 200
        assert request(f"http://127.0.0.1:{port}/thanks?status=pending_confirmation").status == 200
        dynamodb = re.search(r"DynamoDB Local (http://127\.0\.0\.1:(\d+))", banner)
        assert dynamodb is not None
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:  # an assertion failed first: stop it the same way, so it stops Java too
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    reader.join(timeout=5)
    assert lines[-1].strip() == "ripen dev: stopped"
    for taken in (port, int(dynamodb.group(2))):  # the API and DynamoDB Local are gone
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", taken)) != 0


def test_the_outbox_shows_each_emails_variant_and_language_and_a_held_out_lead(
    dynamodb_endpoint, moto_endpoint, tmp_path
):
    import shutil

    # Given trial-nurture with a welcome A/B test, a German confirmation and a 50 % holdout that keeps
    # the welcome (so every lead still gets one email to show)
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    folder = templates / "trial-nurture"
    (folder / "welcome-short.md").write_text((folder / "welcome.md").read_text())
    sequence = folder / "sequence.yaml"
    text = re.sub(
        r"^  - email: welcome\b.*$",
        "  - email: welcome\n    variants: {welcome: 1, welcome-short: 1}",
        sequence.read_text(),
        count=1,
        flags=re.MULTILINE,
    )
    assert "variants:" in text
    sequence.write_text(text + "\nholdout: {share: 50%, keep: [welcome]}\n")
    shared = templates / "_shared"
    (shared / "confirm.de.md").write_text(
        (shared / "confirm.md").read_text().replace("Please confirm", "Bitte bestätigen")
    )
    options = dev_options(
        start=next_monday(12),
        dynamodb_endpoint=dynamodb_endpoint,
        moto_endpoint=moto_endpoint,
        templates=templates,
        parameters={"DueShards": "1"},
    )
    with DevStack(options) as stack:
        # When two German-speaking leads sign up and confirm
        leads = {}
        for email in ("ana@example.com", "cy@example.com"):  # the keyed hash holds Ana out, not Cy
            answer = request(
                f"{stack.url}/leads",
                json_body={
                    "email": email,
                    "consent": "yes",
                    "tz": "UTC",
                    "locale": "de-DE",
                    "sequence": "trial-nurture",
                },
            )
            assert answer.status == 201, answer.text
            stack.settle()
            [confirmation] = [sent for sent in stack.mail.all() if sent.to == (email,)]
            leads[email] = confirm(stack, confirmation) if confirmation.language == "de" else None
        # Then their confirmations went out in German and their welcome emails name their variant
        assert all(sent.language == "de" for sent in stack.mail.all() if sent.kind == "confirmation")
        welcomes = [sent for sent in stack.mail.all() if sent.step == "welcome"]
        assert len(welcomes) == 2
        assert {sent.variant for sent in welcomes} <= {"welcome", "welcome-short"}
        overview = request(stack.outbox_url).text
        assert "variant welcome" in overview
        assert ">de-de<" not in overview
        assert ">de<" in overview
        # And each lead's page shows its language and, for a held-out lead, the holdout
        store = stack.running_app.store
        pages = [request(f"{stack.outbox_url}/leads/{lead_id_for(email)}").text for email in leads]
        assert all("de-de" in page for page in pages)
        held = [store.get_enrollment(lead_id_for(e), "trial-nurture").enrollment.holdout for e in leads]
        assert held == [True, False]
        assert ["holdout</span>" in page for page in pages] == held
