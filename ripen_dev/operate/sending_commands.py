"""`ripen sending pause|resume` (the kill switch) and `ripen status` (is ripen sending, and can it?).

They work on the stack `ripen_dev.operate.target` finds, through the same services the functions use
(`ripen.services.reputation`): a pause is the hold every sender reads (within a minute), a resume
lifts it (and switches SES sending back on if the circuit breaker had switched it off).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from ripen.ports.metrics import SERVICE
from ripen.ports.sending import PRODUCTION_ACCESS_URL
from ripen_dev.operate.target import OperatorError, Target, add_arguments, resolve

CONSOLE_ACCESS_URL = "https://console.aws.amazon.com/ses/home#/account"


def register(commands: Any) -> None:
    """Add `sending` and `status` to the `ripen` command's subcommands."""
    sending = commands.add_parser(
        "sending",
        help="hold or resume sending (the kill switch), for every sequence or one",
        description="Hold every email (of one sequence, or all) until resumed: held emails wait, none is\n"
        "dropped or counted as failed. Every sender sees a pause within a minute.",
        epilog=textwrap.dedent(
            """
            examples:
              ripen sending pause --reason 'bad import on Friday' --stack ripen-prod
              ripen sending pause --sequence trial-nurture
              ripen sending resume --stack ripen-prod --json
            """
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = sending.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("pause", "hold sending"), ("resume", "lift the hold")):
        p = actions.add_parser(action, help=text, description=f"{text.capitalize()} (all sequences, or --sequence).")
        p.add_argument("--sequence", metavar="S", help="only this sequence (default: every sequence)")
        if action == "pause":
            p.add_argument("--reason", default="paused by an operator", help="why (shown in ripen status and logs)")
        add_arguments(p)
        p.set_defaults(run=_guarded(pause_command if action == "pause" else resume_command))

    p = commands.add_parser(
        "status",
        help="is ripen sending: holds, the breaker, SES quota and sandbox, queues, due backlog, last sweep",
        description="What holds sending (an operator's pause, the circuit breaker and what drove it), the last\n"
        "hour's and day's bounce and complaint rates, the SES account (sandbox, quota, sending switch),\n"
        "the queues and their dead-letter queues, the work due now, and when the sweep last ran\n"
        "(CloudWatch's Lambda metrics: cloudwatch:GetMetricData).",
        epilog="examples:\n  ripen status --stack ripen-prod\n  ripen status --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(run=_guarded(status_command))


def _guarded(command: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args))
        except OperatorError as exc:
            print(f"ripen: {exc}", file=sys.stderr)
            return 1

    return run


# -- the parts ---------------------------------------------------------------------------------------


def _target(args: argparse.Namespace) -> Target:
    target = resolve(args.stack, profile=args.profile, region=args.region)
    target.use_credentials()
    return target


def _control(target: Target) -> Any:
    from ripen.adapters.sending import DynamoSendingControl

    s = target.settings
    if not s.sending_table:
        raise OperatorError(
            f"{target.source} has no Sending table (SendingTableName, SENDING_TABLE): deploy the current template"
        )
    dynamodb = target.client("dynamodb") if s.dynamodb_endpoint is None else None
    return DynamoSendingControl(s.sending_table, s.region, s.dynamodb_endpoint, client=dynamodb)


def _account(target: Target) -> Any:
    from ripen.adapters.sending import SesAccountClient

    return SesAccountClient(target.settings.region, client=target.client("sesv2"))


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines))


def _hold_json(hold: Any) -> dict[str, Any]:
    return {
        "scope": hold.scope,
        "reason": hold.reason,
        "by": hold.by,
        "since": hold.since.isoformat(),
        "until": hold.until.isoformat() if hold.until else None,
        "paused_ses": hold.paused_ses,
        "detail": dict(hold.detail),
    }


def _scope_words(scope: str) -> str:
    return "every sequence" if scope == "*" else f"sequence {scope}"


# -- ripen sending pause | resume --------------------------------------------------------------------


def pause_command(args: argparse.Namespace) -> int:
    from ripen.core.reputation import ALL, OPERATOR
    from ripen.services.reputation import pause

    target = _target(args)
    scope = args.sequence or ALL
    try:
        hold = pause(_control(target), scope, args.reason, OPERATOR, _now())
    except _aws_errors() as exc:
        raise OperatorError(f"cannot write the hold: {exc}") from None
    if hold is None:
        existing = next(h for h in _control(target).holds() if h.scope == scope)
        _emit(
            args,
            {"paused": False, "already": _hold_json(existing)},
            [f"{_scope_words(scope)} is held already (since {existing.since:%Y-%m-%d %H:%M} UTC: {existing.reason})"],
        )
        return 0
    _emit(
        args,
        {"paused": True, "hold": _hold_json(hold), "stack": target.source},
        [
            f"held: {_scope_words(scope)} on {target.source} ({args.reason})",
            "every sender sees it within a minute; held emails wait (none is dropped) until `ripen sending resume`",
        ],
    )
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from ripen.core.reputation import ALL, OPERATOR
    from ripen.services.reputation import resume

    target = _target(args)
    scope = args.sequence or ALL
    control = _control(target)
    try:
        lifted = resume(control, _account(target), target.settings.ses_configuration_set, scope, _now(), OPERATOR)
    except _aws_errors() as exc:  # the hold stays: nothing half done
        raise OperatorError(f"cannot resume (the hold stays): {exc}") from None
    others = [h for h in control.holds() if h.scope != scope]
    data: dict[str, Any] = {
        "resumed": lifted is not None,
        "lifted": _hold_json(lifted) if lifted else None,
        "still_held": [_hold_json(h) for h in others],
        "stack": target.source,
    }
    lines = (
        [f"resumed: {_scope_words(scope)} on {target.source}; held emails go out as they come due (within minutes)"]
        if lifted is not None
        else [f"{_scope_words(scope)} was not held"]
    )
    lines += [f"still held: {_scope_words(h.scope)} ({h.reason})" for h in others]
    _emit(args, data, lines)
    return 0


# -- ripen status --------------------------------------------------------------------------------------


def status_command(args: argparse.Namespace) -> int:
    target = _target(args)
    data = gather_status(target)
    _emit(args, data, status_lines(data))
    return 0


def gather_status(target: Target, now: datetime | None = None) -> dict[str, Any]:
    """Everything `ripen status` reports, as data (each part `None` or `{"error": ...}` when unknown)."""
    now = now or _now()
    data: dict[str, Any] = {"stack": target.source, "at": now.isoformat()}
    data["sending"] = _sending_state(target, now)
    data["ses"] = _ses_state(target)
    data["queues"] = _queues(target)
    data["due"] = _due(target, now)
    data["last_sweep"] = _last_sweep(target, now)
    return data


def _sending_state(target: Target, now: datetime) -> dict[str, Any]:
    from ripen.core.reputation import ALL, first_hour, window_counts

    try:
        control = _control(target)
        holds = control.holds()
        hours = control.counts(ALL, first_hour(now, timedelta(hours=24)))
    except OperatorError as exc:
        return {"error": str(exc)}
    except _aws_errors() as exc:
        return {"error": f"cannot read the Sending table: {exc}"}
    rates = {}
    for label, span in (("last_hour", timedelta(hours=1)), ("last_24_hours", timedelta(hours=24))):
        c = window_counts(hours, now, span)
        rates[label] = {
            "sent": c.sends,
            "hard_bounces": c.bounces,
            "complaints": c.complaints,
            "bounce_rate": round(c.bounce_rate, 5),
            "complaint_rate": round(c.complaint_rate, 6),
        }
    active = [h for h in holds if h.active(now)]
    state = {"held": bool(active), "holds": [_hold_json(h) for h in active], "rates": rates}
    warmup = warmup_progress(target.settings.warmup_schedule, target.settings.warmup_start, hours, now)
    if warmup is not None:
        state["warmup"] = warmup
    return state


def warmup_progress(schedule: str, start: Any, hours: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The warm-up's day, today's allowance and the emails sent today (None: no warm-up)."""
    from ripen.core.reputation import hour_of
    from ripen.core.warmup import Ramp, day_start, parse_schedule

    allowances = parse_schedule(schedule)
    if not allowances or start is None:
        return None
    ramp = Ramp(start, allowances)
    first = hour_of(day_start(now))
    sent = sum(c.sends for hour, c in hours.items() if hour >= first)
    return {
        "day": ramp.day(now.date()),
        "days": len(allowances),
        "allowance_today": ramp.allowance(now.date()),
        "sent_today": sent,
        "over": ramp.over(now.date()),
    }


def _ses_state(target: Target) -> dict[str, Any]:
    account = _account(target)
    state = account.account()
    if state is None:
        return {"error": "SES GetAccount could not be read (ses:GetAccount permission, region, network)"}
    out: dict[str, Any] = {
        "production_access": state.production_access,
        "sending_enabled": state.sending_enabled,
        "enforcement_status": state.enforcement_status,
        "max_24_hour_send": state.max_24_hour_send,
        "sent_last_24_hours": state.sent_last_24_hours,
        "max_send_rate": state.max_send_rate,
    }
    if not state.production_access:
        out["sandbox"] = (
            "the account is in the SES sandbox: it sends only to verified addresses, at most 200 a day. "
            f"Request production access: {PRODUCTION_ACCESS_URL} ({CONSOLE_ACCESS_URL})"
        )
    configuration_set = target.settings.ses_configuration_set
    if configuration_set:
        out["configuration_set"] = configuration_set
        out["configuration_set_sending_enabled"] = account.sending_enabled(configuration_set)
    identity = target.outputs.get("SesIdentityName")
    if identity:
        try:
            found = account.client.get_email_identity(EmailIdentity=identity)
        except _aws_errors() as exc:
            out["identity"] = {"name": identity, "error": str(exc)}
        else:
            out["identity"] = identity_checks(identity, found, target.settings.region)
    return out


def identity_checks(identity: str, found: dict[str, Any], region: str) -> dict[str, Any]:
    """What SES says of the sending identity's DNS (`GetEmailIdentity`): each record set that is not
    in place yet, with the records to publish."""
    missing: list[str] = []
    if not found.get("VerifiedForSendingStatus", False):
        missing.append(f"{identity} is not verified for sending yet")
    dkim = found.get("DkimAttributes", {})
    if dkim.get("Status") != "SUCCESS":
        tokens = dkim.get("Tokens") or []
        records = "; ".join(f"{t}._domainkey.{identity} CNAME {t}.dkim.amazonses.com" for t in tokens)
        missing.append(
            f"DKIM is {dkim.get('Status', 'unknown')}: publish the three CNAME records"
            + (f" ({records})" if records else " (stack outputs DkimRecord1-3)")
        )
    mail_from = found.get("MailFromAttributes", {})
    domain = mail_from.get("MailFromDomain")
    if domain and mail_from.get("MailFromDomainStatus") != "SUCCESS":
        missing.append(
            f"MAIL FROM {domain} is {mail_from.get('MailFromDomainStatus', 'unknown')}: publish "
            f"{domain} MX 10 feedback-smtp.{region}.amazonses.com and "
            f'{domain} TXT "v=spf1 include:amazonses.com ~all"'
        )
    elif not domain:
        missing.append("no custom MAIL FROM domain: SPF does not align with the From domain (CreateSesIdentity)")
    return {"name": identity, "ready": not missing, "missing": missing}


QUEUE_OUTPUTS = {
    "send": "SendQueueUrl",
    "send_dead_letter": "SendDeadLetterQueueUrl",
    "engagement": "EngagementQueueUrl",
    "engagement_dead_letter": "EngagementDeadLetterQueueUrl",
}


def _queues(target: Target) -> dict[str, Any]:
    urls = {name: target.outputs.get(output) for name, output in QUEUE_OUTPUTS.items()}
    urls["send"] = urls["send"] or target.settings.send_queue_url
    out: dict[str, Any] = {}
    sqs = None
    for name, url in urls.items():
        if not url:
            continue
        sqs = sqs or target.client("sqs")
        try:
            found = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
        except _aws_errors() as exc:
            out[name] = {"error": str(exc)}
            continue
        out[name] = {
            "visible": int(found.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(found.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }
    return out


def _due(target: Target, now: datetime) -> dict[str, Any]:
    """Enrollments and unsent messages whose time has come (the sweep's backlog): counted per shard."""
    s = target.settings
    dynamodb = target.client("dynamodb") if s.dynamodb_endpoint is None else _local_dynamodb(target)
    shards = [f"{i:02d}" for i in range(s.due_shards)]
    out: dict[str, Any] = {}
    for name, table in (("enrollments", s.enrollments_table), ("messages", s.messages_table)):
        total = 0
        try:
            for shard in shards:
                pages = dynamodb.get_paginator("query").paginate(
                    TableName=table,
                    IndexName="due_keys",
                    KeyConditionExpression="due_shard = :s AND due_at <= :now",
                    ExpressionAttributeValues={":s": {"S": shard}, ":now": {"N": str(round(now.timestamp(), 3))}},
                    Select="COUNT",
                )
                total += sum(page["Count"] for page in pages)
        except _aws_errors() as exc:
            out[name] = {"error": str(exc)}
            continue
        out[name] = total
    return out


def _last_sweep(target: Target, now: datetime) -> dict[str, Any]:
    """When the sweep last ran, from the figures every run publishes: nothing written for it."""
    function = target.outputs.get("NurtureFunctionName")
    if not function:
        return {"unknown": "no NurtureFunctionName stack output (ripen dev sweeps in-process, every few seconds)"}
    try:
        return last_sweep(target.client("cloudwatch"), target.settings.metrics_namespace, function, now)
    except _aws_errors() as exc:
        return {"error": f"{exc} (needs cloudwatch:GetMetricData)"}


# Every sweep run counts this once (0 when nothing failed: ripen.services.sweep.SweepReport.metrics),
# so its samples per minute are the runs and its sum the failures. The function's own AWS/Lambda
# Invocations would count the sender's and engagement's invocations too (one NurtureFunction).
SWEEP_RUN_METRIC = "SweepFailures"


def last_sweep(cloudwatch: Any, namespace: str, function: str, now: datetime, hours: int = 1) -> dict[str, Any]:
    """The sweep's runs and failures per minute over the last `hours` (`SweepFailures` in the stack's
    namespace, GetMetricData): the last minute it ran, how often it ran and what failed. CloudWatch
    publishes the figures a minute or two late; a run that crashed before its figures shows as
    missing here and in NurtureFunctionErrorsAlarm."""
    start = now - timedelta(hours=hours)
    dimensions = [{"Name": "service", "Value": SERVICE}]
    metric = {"Namespace": namespace, "MetricName": SWEEP_RUN_METRIC, "Dimensions": dimensions}
    queries = [
        {"Id": key, "MetricStat": {"Metric": metric, "Period": 60, "Stat": stat}}
        for key, stat in (("runs", "SampleCount"), ("failures", "Sum"))
    ]
    series: dict[str, dict[datetime, float]] = {"runs": {}, "failures": {}}
    request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": now}
    while True:
        page = cloudwatch.get_metric_data(**request)
        for result in page.get("MetricDataResults", []):
            series[result["Id"]].update(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    ran = [at for at, value in series["runs"].items() if value > 0]
    return {
        "function": function,
        "last_run": max(ran).isoformat() if ran else None,
        "runs_last_hour": int(sum(series["runs"].values())),
        "errors_last_hour": int(sum(series["failures"].values())),
        "hours": hours,
    }


def _local_dynamodb(target: Target) -> Any:
    import boto3

    s = target.settings
    return boto3.client("dynamodb", endpoint_url=s.dynamodb_endpoint, region_name=s.region)


def status_lines(data: dict[str, Any]) -> list[str]:
    lines = [f"ripen on {data['stack']}"]
    sending = data["sending"]
    if "error" in sending:
        lines.append(f"sending: unknown ({sending['error']})")
    elif not sending["held"]:
        lines.append("sending: on (no hold)")
    else:
        for hold in sending["holds"]:
            until = f", lifts itself at {hold['until']}" if hold["until"] else ", until `ripen sending resume`"
            drove = hold["detail"].get("sequence")
            lines.append(
                f"sending: HELD for {_scope_words(hold['scope'])} since {hold['since']} by {hold['by']}: "
                f"{hold['reason']}{until}" + (f" (driven by sequence {drove})" if drove else "")
            )
    warmup = sending.get("warmup")
    if warmup and warmup["over"]:
        lines.append(f"warm-up: done ({warmup['days']} days)")
    elif warmup:
        lines.append(
            f"warm-up: day {warmup['day']} of {warmup['days']}, {warmup['sent_today']} of "
            f"{warmup['allowance_today']} emails sent today"
        )
    for label, r in sending.get("rates", {}).items():
        lines.append(
            f"  {label.replace('_', ' ')}: {r['sent']} sent, {r['bounce_rate']:.2%} hard bounces, "
            f"{r['complaint_rate']:.3%} complaints"
        )
    ses = data["ses"]
    if "error" in ses:
        lines.append(f"SES: unknown ({ses['error']})")
    else:
        lines.append(
            f"SES: {'production access' if ses['production_access'] else 'SANDBOX'}, sending "
            f"{'enabled' if ses['sending_enabled'] else 'DISABLED'} ({ses['enforcement_status']}), "
            f"{ses['sent_last_24_hours']:.0f} of {ses['max_24_hour_send']:.0f} emails in 24 hours, "
            f"{ses['max_send_rate']:g}/s"
        )
        if "sandbox" in ses:
            lines.append(f"  {ses['sandbox']}")
        if ses.get("configuration_set_sending_enabled") is False:
            lines.append(f"  configuration set {ses['configuration_set']}: sending switched OFF")
        identity = ses.get("identity")
        if identity and "error" in identity:
            lines.append(f"  identity {identity['name']}: unknown ({identity['error']})")
        elif identity:
            lines.append(f"  identity {identity['name']}: " + ("DNS in place" if identity["ready"] else "NOT READY"))
            lines += [f"    {line}" for line in identity["missing"]]
    for name, q in data["queues"].items():
        if "error" in q:
            lines.append(f"queue {name}: unknown ({q['error']})")
        else:
            lines.append(f"queue {name}: {q['visible']} waiting, {q['in_flight']} in flight")
    due = data["due"]
    lines.append(
        "due now: " + ", ".join(f"{v} {k}" if not isinstance(v, dict) else f"{k} unknown" for k, v in due.items())
    )
    lines.append(last_sweep_line(data.get("last_sweep", {})))
    return lines


def last_sweep_line(sweep: dict[str, Any]) -> str:
    if "unknown" in sweep or "error" in sweep:
        return f"last sweep: unknown ({sweep.get('unknown') or sweep.get('error')})"
    if sweep["last_run"] is None:
        return f"last sweep: NONE in the last hour ({sweep['function']}: every minute expected; is its schedule on?)"
    errors = sweep["errors_last_hour"]
    return (
        f"last sweep: {sweep['last_run']} ({sweep['runs_last_hour']} runs in the last hour"
        + (f", {errors} FAILED" if errors else ", none failed")
        + ")"
    )
