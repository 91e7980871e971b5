"""The cost bench (`make bench`) bills what AWS would: a cold start whenever Lambda would start a
container (an invocation that finds none of its function's containers idle, because the others
are busy or were idle too long), and the SQS requests of Lambda's pollers, idle or not. These are
the bench's own rules, checked on invocations placed by hand and on template.yaml."""

from __future__ import annotations

from datetime import UTC, datetime

from benchmarks.requests_per_email import FUNCTIONS, KEPT_WARM, Tally

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()


def tally(*invocations: tuple[float, str], seconds: float = 0.2) -> Tally:
    """Invocations at T0 + offset (seconds), each lasting `seconds`."""
    t = Tally()
    t.started = [(T0 + at, seconds, part) for at, part in invocations]
    return t


def test_a_send_job_hours_after_the_last_one_pays_no_cold_start_in_the_nurture_function() -> None:
    # Given a send job and an SES event hours apart, nothing in between but the minute's sweep
    t = tally((0, "sender"), (3 * 3600, "engagement"))

    # Then the nurture function runs both in the container its sweep keeps warm
    assert sum(t.cold_starts(apart=False).values()) == 0
    # while as functions of their own, each starts cold
    assert t.cold_starts(apart=True) == {"sender": 1, "engagement": 1}


def test_send_batches_at_the_same_moment_start_containers_beside_the_warm_one() -> None:
    # Given three batches of send jobs at once
    t = tally((1, "sender"), (1, "sender"), (1, "sender"))

    # Then the nurture function starts two containers (its warm one takes the third batch)
    assert t.cold_starts(apart=False) == {"sender": 2}
    assert t.cold_starts(apart=True) == {"sender": 3}


def test_containers_stay_warm_for_kept_warm_and_are_gone_after() -> None:
    soon, later = 300, 300 + KEPT_WARM.total_seconds() + 60
    # Given a burst of two batches, the same burst 5 minutes later, and again long after
    t = tally((0, "sender"), (0, "sender"), (soon, "sender"), (soon, "sender"), (later, "sender"), (later, "sender"))

    # Then the second burst finds its containers warm and the third starts one again
    assert t.cold_starts(apart=False) == {"sender": 2}


def test_invocations_that_do_not_overlap_share_a_container() -> None:
    # Given two signups a second apart, each over in a fifth of it, and a third long after
    t = tally((0, "api"), (1, "api"), (KEPT_WARM.total_seconds() + 120, "api"))

    # Then the API starts cold twice: first, and after its container was reclaimed
    assert t.cold_starts(apart=False) == {"api": 2}


def test_one_at_a_time_invocations_wait_for_the_previous_one() -> None:
    # Given two SES events arriving at the same moment, a trickle's batches taken one at a time
    t = Tally()
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for _ in range(2):
        with t.invoking("engagement", at=at, one_at_a_time=True):
            pass

    # Then the second starts when the first ended: one container, as a function of its own too
    (first, took, _), (second, _, _) = t.started
    assert second == first + took
    assert t.cold_starts(apart=True) == {"engagement": 1}


def test_every_queue_trigger_pays_its_pollers_whatever_the_load() -> None:
    # Given template.yaml's event source mappings on SQS queues, each with MaximumConcurrency
    from benchmarks.requests_per_email import idle_polling_dollars, pollers, received_and_deleted

    # Then each keeps 5 pollers at rest (Lambda drops to 2 only without MaximumConcurrency)
    assert pollers() == {"SendJobs": 5, "SesEvents": 5, "LeadEvents": 5}
    # and a month of their empty 20-second long polls is a fixed cost: 15 pollers, $0.40 per million
    assert round(idle_polling_dollars(), 2) == round(15 * 3 * 60 * 24 * 30 * 0.40 / 1e6, 2)
    # while a batch of 25 messages costs 3 receives and 3 batch deletes
    assert received_and_deleted(25) == 6


def test_the_floor_bills_only_the_message_paths_and_the_least_exactly_once_takes() -> None:
    from benchmarks.requests_per_email import EXACTLY_ONCE_WRU, Cost, Requests, Run
    from ripen_dev import prices

    # Given a run of 10 emails whose traffic made 40 SQS requests (30 of them for 10 SES events
    # in 10 engagement batches), put 1 event on the sales bus and invoked Lambda 20 times
    t = Tally()
    t.emails["welcome"] = 10
    t.events["send"] = 10
    t.sqs.update({"send": 10, "engagement": 30})
    t.bus_events = 1
    t.invocations.update({"sweep": 5, "sender": 5, "engagement": 10})
    t.logs.platform(20, cold=2)
    cost = Cost(Run("trickle", 5, Requests(), t, seconds=0.0), memory=dict.fromkeys(FUNCTIONS, 256))

    # When its floor is priced
    floor = cost.floor

    # Then it is those requests, Lambda's request charge and own lines, and 3 WRU an email: nothing else
    assert EXACTLY_ONCE_WRU == 3
    assert floor["queues and bus"] == 40 * prices.SQS_REQUEST + prices.EVENTBRIDGE_EVENT
    lines = t.logs.platform_bytes * prices.CLOUDWATCH_LOGS_GB
    assert t.logs.platform_bytes == t.logs.bytes  # Lambda's lines, cold starts' Init Duration in
    assert floor["Lambda requests and Lambda's own lines"] == 20 * prices.LAMBDA_REQUEST + lines
    assert floor["exactly once: 3 WRU an email"] == 30 * prices.WRITE_REQUEST_UNIT
    # and with SES events straight from EventBridge, their 30 SQS requests go while each of the 10
    # events stays one invocation (one per batch already): the floor is 30 requests lower
    assert round(cost.without_engagement_queue, 12) == round(sum(floor.values()) - 30 * prices.SQS_REQUEST, 12)


def test_without_the_engagement_queue_each_event_of_a_batch_is_an_invocation() -> None:
    from benchmarks.requests_per_email import Cost, Requests, Run
    from ripen_dev import prices

    # Given a busy run whose 10 SES events came in one engagement batch (10 sends by the rule,
    # a receive and a delete), among 4 invocations
    t = Tally()
    t.emails["welcome"] = 5
    t.events.update({"send": 5, "delivery": 5})
    t.sqs.update({"send": 3, "engagement": 12})
    t.invocations.update({"sweep": 2, "sender": 1, "engagement": 1})
    t.logs.platform(4, cold=0)
    cost = Cost(Run("busy", 5, Requests(), t, seconds=0.0), memory=dict.fromkeys(FUNCTIONS, 256))

    # Then going straight to Lambda saves the 12 requests and pays 9 more invocations, each with its lines
    each = prices.LAMBDA_REQUEST + t.logs.platform_bytes / 4 * prices.CLOUDWATCH_LOGS_GB
    expected = sum(cost.floor.values()) - 12 * prices.SQS_REQUEST + 9 * each
    assert round(cost.without_engagement_queue, 12) == round(expected, 12)
