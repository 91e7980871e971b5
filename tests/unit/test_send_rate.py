"""Keeping to the SES sending rate: each sender container's share (a token bucket on the clock),
the account's rate from SES or from configuration, and throttling that still happens retried."""

from __future__ import annotations

import itertools
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from ripen.adapters.mailer import SesMailer
from ripen.core.records import MessageStatus
from ripen.ports.errors import RetryLaterError
from ripen.ports.mailer import SendUncertainError
from ripen.services.pacing import FALLBACK_RATE, Pacer
from ripen.services.sender import Outcome, Sender
from ripen_dev.fakes.store import InMemoryStore
from tests.support.fake_ses import FakeSes
from tests.support.mailstack import make_stack
from tests.unit.test_ses_mailer import OUTGOING


def test_a_container_sends_at_its_share_of_the_rate_and_never_in_a_burst(clock):
    pacer = Pacer(2.0, clock)
    start = clock.now()
    times = []
    for _ in range(9):
        pacer.take()
        times.append((clock.now() - start).total_seconds())
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]


def test_an_idle_container_gets_one_token_back_not_a_burst(clock):
    pacer = Pacer(2.0, clock)
    pacer.take()
    clock.advance(minutes=10)
    assert [pacer.take() for _ in range(3)] == [0.0, 0.5, 0.5]


def test_a_wait_longer_than_allowed_takes_nothing(clock):
    pacer = Pacer(0.5, clock)
    assert pacer.take() == 0.0
    assert pacer.take(max_wait=1.0) is None  # the next token is two seconds away
    assert pacer.take(max_wait=2.0) == 2.0  # nothing was taken by the refusal


def test_after_ses_throttles_a_container_waits_a_full_interval(clock):
    pacer = Pacer(4.0, clock)
    pacer.take()
    clock.advance(seconds=10)
    pacer.throttled()
    assert pacer.take() == 0.25


def sender_with(stack, ses, rate: float) -> Sender:
    app = stack.app
    return Sender(app.store, app.catalog, app.composer, ses, stack.clock, stack.metrics, pacer=Pacer(rate, stack.clock))


def test_the_sender_calls_ses_no_faster_than_its_share(catalog, clock):
    # Given 12 queued emails and a sender whose share of the SES rate is 3 per second
    stack = make_stack(InMemoryStore(), clock, catalog)
    for i in range(12):
        stack.signup(f"lead{i}@example.com")
    ses = FakeSes(clock, rate=3.0)  # SES itself refuses anything faster
    sender = sender_with(stack, ses, 3.0)
    # When it works through them
    outcomes = [sender.send(job) for job in stack.queue.drain()]
    # Then every one went out, none throttled, a third of a second apart
    assert outcomes == [Outcome.SENT] * 12
    assert ses.throttled == 0
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(ses.accepted)]
    assert min(gaps) == pytest.approx(1 / 3)


def test_a_job_that_cannot_get_its_turn_within_the_invocation_goes_back_untouched(catalog, clock):
    stack = make_stack(InMemoryStore(), clock, catalog)
    stack.signup("ana@example.com")
    stack.signup("ben@example.com")
    first, second = stack.queue.drain()
    sender = sender_with(stack, FakeSes(clock), 0.1)  # one email every ten seconds
    assert sender.send(first, remaining_ms=lambda: 20_000) is Outcome.SENT
    # the next turn is ten seconds away; the invocation has eight left, five of them kept in hand
    with pytest.raises(RetryLaterError) as caught:
        sender.send(second, remaining_ms=lambda: 8_000)
    assert caught.value.delay == timedelta(seconds=10)
    message = stack.message(second.message_key)
    assert (message.status, message.attempts) == (MessageStatus.CLAIMED, 0)  # no lease was taken


def test_throttling_that_happens_anyway_goes_back_to_the_queue_and_slows_the_container(catalog, clock):
    stack = make_stack(InMemoryStore(), clock, catalog)
    stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    ses = FakeSes(clock)
    ses.answer("throttle")  # another application on the account used the rate
    sender = sender_with(stack, ses, 5.0)
    with pytest.raises(RetryLaterError):
        sender.send(job)
    assert stack.message(job.message_key).status is MessageStatus.CLAIMED
    assert sender.pacer is not None
    assert sender.pacer.take() == pytest.approx(0.2)  # the container backs off one interval


# -- the account's rate -------------------------------------------------------------------------------


class QuotaMailer(FakeSes):
    def __init__(self, clock, rate: float | None) -> None:
        super().__init__(clock)
        self.reads = 0
        self.quota = rate

    def max_send_rate(self) -> float | None:
        self.reads += 1
        return self.quota


@pytest.mark.parametrize(
    ("env", "quota", "share"),
    [
        ({"SES_MAX_SEND_RATE": "40", "SENDER_CONCURRENCY": "8"}, 14.0, 5.0),  # configured: SES is not asked
        ({"SENDER_CONCURRENCY": "5"}, 14.0, 2.8),  # SES's figure, shared by five senders
        ({"SENDER_CONCURRENCY": "5"}, None, FALLBACK_RATE / 5),  # SES cannot tell: the sandbox's rate
    ],
)
def test_each_sender_keeps_to_the_accounts_rate_divided_by_the_senders(catalog, clock, env, quota, share):
    mailer = QuotaMailer(clock, quota)
    stack = make_stack(InMemoryStore(), clock, catalog, mailer=mailer, env=env)
    pacer = stack.app.sender.pacer
    assert pacer is not None
    assert pacer.rate == pytest.approx(share)
    assert mailer.reads == (0 if "SES_MAX_SEND_RATE" in env else 1)
    assert stack.app.sender.pacer is pacer  # read once per container


def test_ses_says_what_the_account_may_send():
    client = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_account", {"SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 12.0}}
        )
        stubber.add_client_error("get_account", "AccessDeniedException", "not authorized", http_status_code=403)
        mailer = SesMailer(client=client)
        assert mailer.max_send_rate() == 14.0
        assert mailer.max_send_rate() is None


def test_an_answer_lost_after_the_request_went_out_is_in_doubt_not_retried():
    class Unanswered:
        calls = 0

        def send_email(self, **_):
            self.calls += 1
            raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com/v2/email/outbound-emails")

    client = Unanswered()
    with pytest.raises(SendUncertainError):
        SesMailer(client=client).send(OUTGOING)
    assert client.calls == 1


def test_the_ses_client_never_retries_a_send_by_itself():
    retries = SesMailer("us-east-1").client.meta.config.retries
    assert retries["total_max_attempts"] == 1
