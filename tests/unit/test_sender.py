"""The sender, end to end on fakes: what goes out, what is held back, and why."""

from __future__ import annotations

import email
import shutil
from dataclasses import replace
from datetime import timedelta
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest

from ripen.adapters.templates import load_catalog
from ripen.app import use
from ripen.core import tags
from ripen.core.records import LeadStatus, MessageStatus, message_key
from ripen.core.state import Confirmed, Paused, Status, Stopped
from ripen.core.tokens import Purpose, verify
from ripen.ports.errors import RetryLaterError
from ripen.ports.mailer import (
    MailerUnavailableError,
    RejectedError,
    SandboxRejectedError,
    SendingStoppedError,
    ThrottledError,
)
from ripen.ports.queue import SendJob
from ripen.services.sender import LEASE, Outcome, SendingHaltedError
from ripen_dev.fakes.store import InMemoryStore
from tests.conftest import TEMPLATES
from tests.support.mailstack import BASE_URL, KEY, POSTAL_ADDRESS, make_stack
from tests.support.sender import take_lease


def welcome_key(lead_id: str, sequence: str = "trial-nurture", step: str = "welcome") -> str:
    return message_key(lead_id, sequence, 1, step)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_a_queued_email_goes_out_once_with_everything_it_needs(stack, clock):
    # Given a confirmed lead who just entered the trial sequence
    lead = stack.signup("ana@example.com", name="Ana Lopez", attributes={"company": "Fernhill"})
    # When the sender works through the queue
    assert stack.send_queued() == [Outcome.SENT]
    # Then one email went to the lead, from the sequence's sender, through the configuration set
    [sent] = stack.outbox.emails
    assert sent.to == "ana@example.com"
    assert sent.subject == "Your Acme Insights trial is ready"
    assert sent.from_ == "Maya from Acme <maya@acme.example>"
    assert sent.reply_to == "Acme Customer Success <success@acme.example>"
    assert sent.configuration_set == "ripen-nurture"
    assert "Hi Ana," in sent.text
    assert "live for Fernhill" in sent.text
    assert POSTAL_ADDRESS in sent.html
    assert POSTAL_ADDRESS in sent.text
    # and the message records what SES answered, out of the due index
    message = stack.message(welcome_key(lead.lead_id))
    assert message.status is MessageStatus.SENT
    assert message.ses_message_id == stack.outbox.sent[0][0].message_id
    assert (message.sent_at, message.due_at, message.lease_until, message.attempts) == (clock.now(), None, None, 1)
    # and the lead's recent emails (for the frequency cap) include it
    stored = stack.store.get_lead(lead.lead_id)
    assert stored.recent_emails == (clock.now(),)
    assert stored.revision == lead.revision + 1
    assert stack.metrics.counts["EmailsSent"] == 1


def test_each_sequence_s_sends_are_counted_under_its_own_name_too(stack):
    # Given two leads in two sequences
    stack.signup("ana@example.com")
    stack.signup("ben@example.com", sequence="ebook-nurture")
    # When the sender sends their first emails
    assert stack.send_queued() == [Outcome.SENT, Outcome.SENT]
    # Then EmailsSent counts both, and each sequence's count (dimension Sequence) its own
    assert stack.metrics.counts["EmailsSent"] == 2
    assert stack.metrics.per_sequence == {("trial-nurture", "EmailsSent"): 1, ("ebook-nurture", "EmailsSent"): 1}


def test_a_job_delivered_twice_sends_one_email(stack):
    lead = stack.signup("ana@example.com")
    job = SendJob(message_key=welcome_key(lead.lead_id))
    assert stack.app.sender.send(job) is Outcome.SENT
    assert stack.app.sender.send(job) is Outcome.NOTHING
    assert len(stack.outbox.emails) == 1


def test_every_email_carries_one_click_unsubscribe_headers_matching_its_footer(stack, clock):
    lead = stack.signup("ana@example.com")
    stack.send_queued()
    [sent] = stack.outbox.emails
    # The message as SES receives it (raw MIME), parsed like a mailbox provider would
    parsed = email.message_from_bytes(sent.mime(), policy=policy.default)
    header = parsed["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (part.strip().strip("<>") for part in header.split(","))
    assert https.startswith(f"{BASE_URL}/unsubscribe?token=")
    assert mailto == "mailto:unsubscribe@acme.example?subject=unsubscribe"
    # The token names this lead, this sequence and this very message, for unsubscribing only
    claims = verify(KEY.encode(), token_of(https), Purpose.UNSUBSCRIBE, clock.now())
    assert (claims.lead_id, claims.sequence, claims.message) == (
        lead.lead_id,
        "trial-nurture",
        welcome_key(lead.lead_id),
    )
    # The footer's link is the same one-click URL, in the HTML and in the text
    assert f'href="{https}"' in sent.html
    assert f"Unsubscribe: {https}" in sent.text
    html_part = parsed.get_body(preferencelist=("html",))
    assert html_part is not None
    assert https in html_part.get_content()


def test_without_a_mailto_the_list_unsubscribe_header_names_only_the_https_link(catalog, clock):
    stack = make_stack(InMemoryStore(), clock, catalog, env={"UNSUBSCRIBE_MAILTO": ""})
    stack.signup("ana@example.com")
    stack.send_queued()
    header = stack.outbox.emails[0].headers["List-Unsubscribe"]
    assert header.startswith(f"<{BASE_URL}/unsubscribe?token=")
    assert "," not in header
    assert header.endswith(">")


def test_message_tags_name_the_lead_sequence_step_and_message_in_ses_characters(stack):
    lead = stack.signup("ana@example.com")
    stack.send_queued()
    sent_tags = stack.outbox.emails[0].tags
    assert sent_tags == {
        "lead": lead.lead_id,
        "sequence": "trial-nurture",
        "step": "welcome",
        "message": f"{lead.lead_id}.trial-nurture.1.welcome",
        "kind": "nurture",
    }
    assert all(tags.is_valid_tag_value(value) for value in sent_tags.values())
    assert tags.message_key_from_tag(sent_tags["message"]) == welcome_key(lead.lead_id)


def test_an_unsubscribe_before_the_sender_runs_stops_the_queued_email(stack):
    lead = stack.signup("ana@example.com")
    stack.app.preferences.unsubscribe(lead.lead_id, "unsubscribe page")
    assert stack.send_queued() == [Outcome.SKIPPED]
    assert stack.outbox.emails == []
    message = stack.message(welcome_key(lead.lead_id))
    assert (message.status, message.error) == (MessageStatus.SKIPPED, "the lead unsubscribed")
    # and the lead's history says why they did not get it
    entry = stack.store.history_of(lead.lead_id)[-1]
    assert entry.lines == ("email 'welcome' skipped: the lead unsubscribed",)
    assert entry.message_key == welcome_key(lead.lead_id)
    assert stack.metrics.counts["EmailsSkipped"] == 1


def test_a_suppressed_lead_gets_nothing_more(stack):
    lead = stack.signup("ana@example.com")
    stored = stack.store.get_lead(lead.lead_id)
    stack.store.save_lead(replace(stored, status=LeadStatus.SUPPRESSED), stored.revision)
    assert stack.send_queued() == [Outcome.SKIPPED]
    assert "suppressed" in stack.message(welcome_key(lead.lead_id)).error


def test_a_lead_who_left_the_sequence_does_not_get_its_queued_email(stack):
    lead = stack.signup("ana@example.com")
    assert stack.app.nurture.apply(lead.lead_id, "trial-nurture", Stopped("unsubscribed"), "leave").applied
    assert stack.send_queued() == [Outcome.SKIPPED]
    assert stack.message(welcome_key(lead.lead_id)).error == "the lead left the sequence (unsubscribed)"


def test_a_lead_who_paused_gets_the_queued_email_after_the_pause_not_now(stack, clock):
    lead = stack.signup("ana@example.com")
    until = clock.now() + timedelta(days=30)
    assert stack.app.nurture.apply(lead.lead_id, "trial-nurture", Paused(until=until), "pause").applied
    assert stack.send_queued() == [Outcome.DEFERRED]
    held = stack.message(welcome_key(lead.lead_id))
    assert (held.status, held.due_at) == (MessageStatus.CLAIMED, until)
    assert held.error == f"paused: held until {until.isoformat()}"
    assert stack.outbox.emails == []


def test_the_confirmation_email_carries_a_confirm_link_that_expires_with_the_double_opt_in(stack, clock):
    lead = stack.signup("ana@example.com", confirmed=False)
    assert stack.send_queued() == [Outcome.SENT]
    [sent] = stack.outbox.emails
    assert sent.subject == "Please confirm your email address"
    confirm = next(line for line in sent.text.split() if "/confirm?token=" in line).strip("()")
    claims = verify(KEY.encode(), token_of(confirm), Purpose.CONFIRM, clock.now())
    assert (claims.lead_id, claims.sequence) == (lead.lead_id, "trial-nurture")
    assert claims.expires_at == clock.now() + timedelta(days=7)
    assert sent.tags["kind"] == "confirmation"
    assert "utm_" not in confirm  # ripen's own links get no UTM parameters


def test_a_confirmation_still_queued_after_the_lead_confirmed_is_not_sent(stack):
    lead = stack.signup("ana@example.com", confirmed=False)
    jobs = stack.queue.drain()
    stack.app.nurture.apply(lead.lead_id, "trial-nurture", Confirmed(), "confirmed")
    assert stack.app.sender.send(jobs[0]) is Outcome.SKIPPED
    assert stack.message(jobs[0].message_key).error == "already confirmed"
    # the welcome email the confirmation unlocked goes out as usual
    assert stack.send_queued() == [Outcome.SENT]


def test_an_email_that_does_not_render_is_never_sent_and_the_lead_moves_on(tmp_path, catalog, clock):
    # Given a welcome email that needs a company the lead never gave
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    welcome = tmp_path / "templates" / "trial-nurture" / "welcome.md"
    welcome.write_text(welcome.read_text().replace('{{ lead.company | default("your team") }}', "{{ lead.company }}"))
    broken = load_catalog(tmp_path / "templates")
    stack = make_stack(InMemoryStore(), clock, broken, env={"TEMPLATES_DIR": str(tmp_path / "templates")})
    lead = stack.signup("ana@example.com")
    # When the sender gets to it
    assert stack.send_queued() == [Outcome.FAILED]
    # Then nothing went out, the message says why, and so does the lead's history
    assert stack.outbox.attempts == 0
    message = stack.message(welcome_key(lead.lead_id))
    assert message.status is MessageStatus.FAILED
    assert "could not render: trial-nurture/welcome.md:" in message.error
    assert "company" in message.error
    assert "email 'welcome' not sent: could not render" in stack.store.history_of(lead.lead_id)[-1].lines[0]
    assert stack.metrics.counts["EmailsFailed"] == 1
    # and the lead carries on with the sequence: the next email comes on schedule
    record = stack.store.get_enrollment(lead.lead_id, "trial-nurture")
    assert (record.enrollment.status, record.enrollment.cursor) == (Status.ACTIVE, "wait-2")


def test_a_message_ses_rejects_is_marked_failed_with_the_reason_and_not_retried(stack):
    lead = stack.signup("ana@example.com")
    stack.outbox.fail_with(RejectedError("MessageRejected", "Email address is not verified: ana@example.com"))
    assert stack.send_queued() == [Outcome.FAILED]
    message = stack.message(welcome_key(lead.lead_id))
    assert message.status is MessageStatus.FAILED
    assert message.error == "SES rejected it (MessageRejected): Email address is not verified: <address>"
    assert stack.app.sender.send(SendJob(message_key=message.claim.key)) is Outcome.NOTHING
    assert stack.outbox.attempts == 1


def test_a_recipient_the_ses_sandbox_refuses_is_told_apart_from_a_failure(stack):
    # Given an account in the SES sandbox and a lead whose address is not verified in SES
    lead = stack.signup("ana@example.com")
    refused = "Email address is not verified. The following identities failed the check in region US-EAST-1: "
    stack.outbox.fail_with(SandboxRejectedError("MessageRejected", refused + "ana@example.com"))
    # When the sender hands the email to SES
    assert stack.send_queued() == [Outcome.FAILED]
    # Then the message says it is the sandbox, with the way out, and not a plain SES rejection
    message = stack.message(welcome_key(lead.lead_id))
    assert message.status is MessageStatus.FAILED
    assert message.error == (
        "SES sandbox: the recipient is not a verified address; request production access: "
        "https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html"
    )
    assert "SES sandbox" in stack.store.history_of(lead.lead_id)[-1].lines[0]
    # and it is counted as blocked by the sandbox, not as a failure
    assert stack.metrics.counts["EmailsBlockedBySandbox"] == 1
    assert stack.metrics.counts.get("EmailsFailed", 0) == 0
    # and it is not tried again
    assert stack.app.sender.send(SendJob(message_key=message.claim.key)) is Outcome.NOTHING
    assert stack.outbox.attempts == 1


def test_a_throttled_send_goes_back_to_the_queue_and_goes_out_later(stack, clock):
    stack.signup("ana@example.com")
    job = stack.queue.drain()[0]
    stack.outbox.fail_with(ThrottledError("TooManyRequestsException", "Maximum sending rate exceeded."))
    with pytest.raises(RetryLaterError) as caught:
        stack.app.sender.send(job)
    assert caught.value.delay == timedelta(seconds=60)
    message = stack.message(job.message_key)
    assert (message.status, message.due_at, message.lease_until) == (
        MessageStatus.CLAIMED,
        clock.now() + timedelta(seconds=60),
        None,
    )
    # When the job comes back
    clock.advance(seconds=60)
    assert stack.app.sender.send(job) is Outcome.SENT
    assert stack.message(job.message_key).attempts == 2
    assert len(stack.outbox.to("ana@example.com")) == 1
    assert stack.metrics.counts["SendThrottled"] == 1


@pytest.mark.parametrize(
    "code", ["SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException"]
)
def test_when_ses_stops_the_account_the_sender_stops_without_a_retry_storm(stack, clock, code):
    stack.signup("ana@example.com")
    stack.signup("ben@example.com")
    first, second = stack.queue.drain()
    stack.outbox.fail_with(SendingStoppedError(code, "Sending is paused for this account."))
    # When SES refuses the first email
    with pytest.raises(SendingHaltedError):
        stack.app.sender.deliver(first.model_dump_json(), receipt_handle="receipt-1")
    # Then the alarm metric is raised once, and the next job is held back without calling SES
    with pytest.raises(SendingHaltedError):
        stack.app.sender.deliver(second.model_dump_json(), receipt_handle="receipt-2")
    assert stack.outbox.attempts == 1
    assert stack.metrics.counts["SendingStopped"] == 1
    assert stack.queue.deferred == [("receipt-1", timedelta(minutes=15)), ("receipt-2", timedelta(minutes=15))]
    assert stack.message(first.message_key).status is MessageStatus.CLAIMED
    # And once the pause is over, sending resumes
    clock.advance(minutes=15)
    assert [stack.app.sender.send(job) for job in (first, second)] == [Outcome.SENT, Outcome.SENT]


def test_a_transient_ses_failure_is_retried_later(stack):
    stack.signup("ana@example.com")
    job = stack.queue.drain()[0]
    stack.outbox.fail_with(MailerUnavailableError("ServiceUnavailable", "try again"))
    with pytest.raises(RetryLaterError) as caught:
        stack.app.sender.send(job)
    assert caught.value.delay == timedelta(minutes=2)
    assert stack.message(job.message_key).status is MessageStatus.CLAIMED


def test_a_malformed_job_is_dropped_not_retried_forever(stack):
    assert stack.app.sender.deliver('{"message_key": 5}', "receipt") is Outcome.NOTHING
    assert stack.app.sender.deliver("not json", "receipt") is Outcome.NOTHING
    assert stack.queue.deferred == []


def test_a_job_for_a_message_another_sender_holds_is_left_to_that_sender(stack, clock):
    stack.signup("ana@example.com")
    job = stack.queue.drain()[0]
    # Another sender took the lease (a duplicate delivery of the same job) and is sending
    take_lease(stack.store, job.message_key, clock.now())
    assert stack.app.sender.send(job) is Outcome.NOTHING
    assert stack.outbox.attempts == 0
    # and when that sender dies, a job arriving right after its lease ran out still sends nothing:
    # SES may have accepted the email, and its Send event gets time to say so
    clock.advance(LEASE)
    assert stack.app.sender.send(job) is Outcome.NOTHING
    assert stack.outbox.attempts == 0


def test_the_app_refuses_to_send_without_the_sender_details_the_footer_needs(catalog, clock):
    stack = make_stack(InMemoryStore(), clock, catalog, env={"SENDER_POSTAL_ADDRESS": ""})
    with pytest.raises(RuntimeError, match="SENDER_POSTAL_ADDRESS"):
        _ = stack.app.sender
    use(None)
