"""The outbox at `/_dev`: what the dev stack sent, what each lead went through, and buttons for what
leads and mailbox providers do. Server-rendered pages, plain forms (no JavaScript needed), served by
the dev server itself (never by the api function).

    GET  /_dev                        leads, emails, hand-offs to sales, the clock, the log
    GET  /_dev/leads/<lead id>        a lead's timeline: state changes, emails, SES events, score
    GET  /_dev/emails/<SES id>        one email: the HTML, the text, the headers, the event buttons
    GET  /_dev/emails/<SES id>/html   the HTML part alone (shown in a frame)
    GET  /_dev/emails/<SES id>/eml    the raw MIME message SES accepted
    GET  /_dev/thank-you?url=...      stands in for a thank-you page on a domain that cannot exist
    POST /_dev/time                   move time forward (then sweep and send at once)
    POST /_dev/leads/<lead id>/next   move time forward to the lead's next timer
    POST /_dev/emails/<SES id>/events what happened to the email: delivered, open, click <link>,
                                      bounce, complaint (SES events), unsubscribe (the one-click POST)
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ripen.core.records import EnrollmentRecord, HistoryEntry, Lead, Message
from ripen.core.state import Wait
from ripen_dev.local.devstack.clock import span
from ripen_dev.local.devstack.ses import OutboxEmail
from ripen_dev.local.http import LocalRequest, LocalResponse

if TYPE_CHECKING:
    from jinja2 import Environment

    from ripen_dev.local.devstack.stack import DevStack

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
# The email's own HTML, framed by the email page: no scripts, links open in the whole tab.
EMAIL_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-ancestors 'self'",
}
STEPS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "3d": timedelta(days=3)}
UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}
LONGEST_MOVE = timedelta(days=365)
WAITS = {
    Wait.TIMER: "next step",
    Wait.ENGAGEMENT: "waiting for engagement, else the next step",
    Wait.WINDOW: "email held for the send window",
    Wait.CAP: "email held by the frequency cap",
    Wait.CONFIRMATION: "waiting for confirmation (reminder or expiry)",
    Wait.PAUSE: "paused by the lead",
}
SES_EVENTS = {"delivery", "open", "click", "bounce", "complaint"}


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("ripen_dev.local.devstack", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["span"] = span
    return env


def when(at: datetime | None, zone: str | None = None) -> str:
    if at is None:
        return "-"
    text = at.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
    if zone:
        try:
            local = at.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return text
        text += f" ({local:%a %H:%M} {zone})"
    return text


def relative(at: datetime, now: datetime) -> str:
    if abs(at - now) < timedelta(minutes=1):
        return "now"
    return f"in {span(at - now)}" if at > now else f"{span(now - at)} ago"


@dataclass(frozen=True)
class NextAction:
    at: datetime | None
    text: str


def next_action(record: EnrollmentRecord, now: datetime) -> NextAction:
    e = record.enrollment
    if e.terminal:
        reason = f" ({e.exit_reason})" if e.exit_reason else ""
        return NextAction(None, f"finished: {e.status.value}{reason}")
    if e.next_action_at is None:
        return NextAction(None, "nothing scheduled (waiting for the lead)")
    what = WAITS.get(e.wait, "next step") if e.wait else "next step"
    return NextAction(e.next_action_at, f"{what}: {relative(e.next_action_at, now)}")


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # state, email, ses
    title: str
    lines: tuple[str, ...] = ()
    href: str | None = None


def timeline(history: list[HistoryEntry], emails: list[OutboxEmail]) -> list[TimelineItem]:
    items = [
        TimelineItem(
            entry.at,
            "state",
            f"{entry.sequence}: {entry.trigger} → {entry.status}" + (f" at {entry.step}" if entry.step else ""),
            entry.lines,
        )
        for entry in history
    ]
    for sent in emails:
        href = f"/_dev/emails/{sent.ses_message_id}"
        items.append(TimelineItem(sent.sent_at, "email", f"email sent: “{sent.subject}” ({sent.step})", (), href))
        for event in sent.events:
            if event.kind == "send":
                continue
            link = f" on {event.link}" if event.link else ""
            items.append(TimelineItem(event.at, "ses", f"SES {event.kind}{link}: {sent.step}", (), href))
    return sorted(items, key=lambda item: (item.at, item.kind != "email"))


EVENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class Outbox:
    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., LocalResponse]]] = [
            ("GET", re.compile(r"/_dev/?"), self.overview),
            ("GET", re.compile(r"/_dev/leads/(?P<lead_id>[\w-]+)"), self.lead),
            ("GET", re.compile(r"/_dev/emails/(?P<ses_id>[\w.-]+)"), self.email),
            ("GET", re.compile(r"/_dev/emails/(?P<ses_id>[\w.-]+)/html"), self.email_html),
            ("GET", re.compile(r"/_dev/emails/(?P<ses_id>[\w.-]+)/eml"), self.email_raw),
            ("GET", re.compile(r"/_dev/thank-you"), self.thank_you),
            ("POST", re.compile(r"/_dev/time"), self.move_time),
            ("POST", re.compile(r"/_dev/leads/(?P<lead_id>[\w-]+)/next"), self.next_timer),
            ("POST", re.compile(r"/_dev/leads/(?P<lead_id>[\w-]+)/event"), self.product_event),
            ("POST", re.compile(r"/_dev/emails/(?P<ses_id>[\w.-]+)/events"), self.email_event),
        ]

    def handle(self, request: LocalRequest) -> LocalResponse:
        method = "GET" if request.method == "HEAD" else request.method
        allowed = False
        for verb, pattern, view in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            allowed = True
            if verb == method:
                return view(request, **match.groupdict())
        if allowed:
            return LocalResponse(405, {"Content-Type": "text/plain; charset=utf-8"}, b"method not allowed")
        return self.page("not_found.html", status=404, title="Not found")

    # -- pages ------------------------------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> LocalResponse:
        stack = self.stack
        html = (
            _environment()
            .get_template(template)
            .render(now=stack.clock.now(), offset=stack.clock.offset, site=stack.url, **context)
        )
        return LocalResponse(status, dict(PAGE_HEADERS), html.encode("utf-8"))

    def overview(self, request: LocalRequest) -> LocalResponse:
        stack = self.stack
        stack.settle()
        store = stack.running_app.store
        now = stack.clock.now()
        leads = []
        for lead_id in stack.lead_ids():
            lead = store.get_lead(lead_id)
            if lead is None:
                continue
            records = store.enrollments_of(lead_id)
            leads.append((lead, [(r, next_action(r, now)) for r in records]))
        leads.sort(key=lambda pair: pair[0].created_at, reverse=True)
        emails = sorted(stack.mail.all(), key=lambda sent: sent.sent_at, reverse=True)
        handoffs = [event for inbox in stack.inboxes for event in inbox.events]
        return self.page(
            "overview.html",
            title="Outbox",
            leads=leads,
            emails=emails,
            handoffs=handoffs,
            log=list(stack.log.lines)[-40:],
            steps=STEPS,
        )

    def lead(self, request: LocalRequest, lead_id: str) -> LocalResponse:
        stack = self.stack
        stack.settle()
        store = stack.running_app.store
        lead = store.get_lead(lead_id)
        if lead is None:
            return self.page("not_found.html", status=404, title="No such lead")
        now = stack.clock.now()
        records = store.enrollments_of(lead_id)
        messages = [m for m in (store.get_message(key) for key in stack.message_keys(lead_id)) if m is not None]
        emails = stack.mail.of_lead(lead_id)
        return self.page(
            "lead.html",
            title=f"Lead {lead_id}",
            lead=lead,
            enrollments=[(r, next_action(r, now)) for r in records],
            has_timer=_next_timer(records, now) is not None,
            messages=sorted(messages, key=lambda m: m.claim.created_at),
            by_ses_id={m.ses_message_id: m for m in messages if m.ses_message_id},
            timeline=timeline(store.history_of(lead_id), emails),
            event_names=sorted(stack.running_app.product_events.known_names()),
        )

    def email(self, request: LocalRequest, ses_id: str) -> LocalResponse:
        stack = self.stack
        stack.settle()
        sent = stack.mail.get(ses_id)
        if sent is None:
            return self.page("not_found.html", status=404, title="No such email")
        store = stack.running_app.store
        message: Message | None = store.get_message(sent.message_key) if sent.message_key else None
        lead: Lead | None = store.get_lead(sent.lead_id) if sent.lead_id else None
        return self.page(
            "email.html",
            title=sent.subject,
            sent=sent,
            message=message,
            lead=lead,
        )

    def email_html(self, request: LocalRequest, ses_id: str) -> LocalResponse:
        sent = self.stack.mail.get(ses_id)
        if sent is None:
            return LocalResponse(404, {"Content-Type": "text/plain; charset=utf-8"}, b"no such email")
        return LocalResponse(200, dict(EMAIL_HEADERS), framed(sent.html).encode("utf-8"))

    def email_raw(self, request: LocalRequest, ses_id: str) -> LocalResponse:
        sent = self.stack.mail.get(ses_id)
        if sent is None:
            return LocalResponse(404, {"Content-Type": "text/plain; charset=utf-8"}, b"no such email")
        headers = {
            "Content-Type": "message/rfc822",
            "Content-Disposition": f'attachment; filename="{sent.step or "email"}.eml"',
            "Cache-Control": "no-store",
        }
        return LocalResponse(200, headers, sent.raw)

    def thank_you(self, request: LocalRequest) -> LocalResponse:
        url = request.query.get("url", "")
        if not url.startswith(("https://", "http://")):
            url = ""
        return self.page("thank_you.html", title="Thank-you page", url=url)

    # -- actions ------------------------------------------------------------------------------------

    def move_time(self, request: LocalRequest) -> LocalResponse:
        form = request.form
        delta = STEPS.get(form.get("amount", ""))
        if delta is None:
            try:
                count = float(form.get("count", ""))
            except ValueError:
                count = 0
            unit = UNITS.get(form.get("unit", ""))
            delta = unit * count if unit is not None and count > 0 else None
        if delta is None or delta > LONGEST_MOVE:
            return self.page("problem.html", status=400, title="Not moved", problem="Choose how far to move time.")
        self.stack.move_time(delta)
        return redirect(_back(form))

    def next_timer(self, request: LocalRequest, lead_id: str) -> LocalResponse:
        stack = self.stack
        records = stack.running_app.store.enrollments_of(lead_id)
        due = _next_timer(records, stack.clock.now())
        if due is not None:
            stack.move_time_to(due)
        else:
            stack.settle(sweep=True)
        return redirect(f"/_dev/leads/{lead_id}")

    def product_event(self, request: LocalRequest, lead_id: str) -> LocalResponse:
        """The outbox's "product event" control: what the lead's backend would report (name, properties)."""
        stack = self.stack
        if stack.running_app.store.get_lead(lead_id) is None:
            return self.page("not_found.html", status=404, title="No such lead")
        name = request.form.get("name", "").strip()
        if not EVENT_NAME.fullmatch(name):
            problem = "An event name is lowercase letters, digits, '-' and '_' (e.g. trial_converted)."
            return self.page("problem.html", status=400, title="Not sent", problem=problem)
        text = request.form.get("properties", "").strip() or "{}"
        try:
            properties = json.loads(text)
        except ValueError:
            properties = None
        if not isinstance(properties, dict):
            problem = 'Properties are a JSON object, e.g. {"plan": "team"}, or nothing.'
            return self.page("problem.html", status=400, title="Not sent", problem=problem)
        stack.put_lead_event(lead_id, name, properties)
        return redirect(f"/_dev/leads/{lead_id}")

    def email_event(self, request: LocalRequest, ses_id: str) -> LocalResponse:
        stack = self.stack
        sent = stack.mail.get(ses_id)
        ses = stack.ses
        if sent is None or ses is None:
            return self.page("not_found.html", status=404, title="No such email")
        choice = request.form.get("event", "")
        kind, _, name = choice.partition(":")
        back = f"/_dev/leads/{sent.lead_id}" if sent.lead_id else f"/_dev/emails/{ses_id}"
        if kind == "unsubscribe":
            problem = self._unsubscribe(sent)
            if problem:
                return self.page("problem.html", status=502, title="Not unsubscribed", problem=problem)
            stack.settle()
            return redirect(back)
        if kind not in SES_EVENTS:
            return self.page("problem.html", status=400, title="Unknown event", problem=f"No event '{choice}'.")
        link = next((link for link in sent.links if link.name == name), None)
        if kind == "click" and link is None:
            return self.page("problem.html", status=400, title="No such link", problem=f"No link named '{name}'.")
        if kind in ("open", "click"):
            at = ses.human_time(sent)
            stack.clock.advance_to(at)  # a person takes a moment: time moves that little bit
        else:
            at = stack.clock.now()
        if not ses.publish(kind, sent, at, link):
            problem = "The email's configuration set publishes no such events (see template.yaml)."
            return self.page("problem.html", status=400, title="Not published", problem=problem)
        stack.log("outbox", f"{kind}{' ' + name if name else ''} on {sent.sequence}/{sent.step} ({sent.lead_id})")
        stack.settle()
        return redirect(back)

    def _unsubscribe(self, sent: OutboxEmail) -> str | None:
        """The RFC 8058 one-click unsubscribe a mailbox provider sends: POST to the List-Unsubscribe URL."""
        url = sent.unsubscribe_url
        if url is None:
            return "This email has no List-Unsubscribe address."
        if urlsplit(url).hostname not in ("localhost", "127.0.0.1"):
            return f"The List-Unsubscribe address {url} is not this dev stack's."
        request = urllib.request.Request(  # noqa: S310 - a local http URL, checked above
            url,
            data=b"List-Unsubscribe=One-Click",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "ripen-dev (one-click)"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            return f"The unsubscribe request failed: {exc}"
        self.stack.log("outbox", f"one-click unsubscribe on {sent.sequence}/{sent.step} ({sent.lead_id}) -> {status}")
        return None if status < 400 else f"The API answered {status}."


def framed(html: str) -> str:
    """The email's HTML with links opening in the whole tab (it is shown in a frame)."""
    base = '<base target="_top">'
    head = re.search(r"<head[^>]*>", html, re.IGNORECASE)
    if head:
        return html[: head.end()] + base + html[head.end() :]
    return base + html


def redirect(location: str) -> LocalResponse:
    return LocalResponse(303, {"Location": location, "Cache-Control": "no-store"})


def _back(form: dict[str, str]) -> str:
    back = form.get("back", "")
    return back if back.startswith("/_dev") and "//" not in back else "/_dev"


def _next_timer(records: list[EnrollmentRecord], now: datetime) -> datetime | None:
    times = [
        r.enrollment.next_action_at
        for r in records
        if not r.enrollment.terminal and r.enrollment.next_action_at is not None
    ]
    return min(times) if times else None
