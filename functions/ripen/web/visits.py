"""`POST /events/web`: page views on the sender's website, from `examples/track.js`.

Public (a page posts it, CORS like `/leads`), so it believes nothing but a visitor token: the `rv`
parameter links to the sender's website carry in emails of a sequence with page rules (`pages:`).
Only a valid, unexpired `visit` token naming a live lead is taken; a forged one is refused (403), an
expired one, or one for a lead who unsubscribed or is gone, is turned away (410); nothing is applied.

The page's path is matched against the page rules of the sequences the lead is in; each rule that
matches becomes a product event, applied through `ProductEvents.apply` exactly like an event from
the bus or `POST /events`. Its id is derived from the token, the event name and the hour, so a
reload, or several pages matching one rule, within the hour count once: a token makes at most one
event per rule per hour, which is the rate limit.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from ripen.app import app
from ripen.core.events import LeadEvent
from ripen.core.records import LeadStatus
from ripen.core.tokens import Purpose, TokenError, verify
from ripen.ports.errors import RetryLaterError
from ripen.web.bodies import JSON, BodyError, is_json, media_type, raw_body

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]  # (Powertools leaves its __init__ unannotated)

MAX_VISIT_BODY_BYTES = 4096
MAX_URL_LENGTH = 2048
VISIT_WINDOW_SECONDS = 3600  # one event per token, rule and hour
# sendBeacon posts a string as text/plain (no CORS preflight): the body is read as JSON all the same.
TEXT = "text/plain"

# Metrics (no token, no path, no lead in any of them)
VISITS_RECORDED = "WebVisitsRecorded"
VISITS_REFUSED = "WebVisitsRefused"


class VisitBody(BaseModel):
    token: str = Field(description="The visitor token: the `rv` parameter of the link from the email.")
    url: str = Field(description="The page viewed (its path is matched against the sequences' page rules).")


class VisitAnswer(BaseModel):
    """The page view was taken: the events its path made (none when no page rule matches it)."""

    events: list[str] = Field(default_factory=list)


class VisitRejected(BaseModel):
    """Nothing was recorded."""

    error: Literal[
        "malformed_body",
        "empty_body",
        "unsupported_media_type",
        "payload_too_large",
        "invalid_visit",
        "forged_token",
        "expired_token",
        "lead_gone",
        "busy",
    ]
    message: str


def _refusal(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": VisitRejected}}}


VISIT_BODY = {
    "required": True,
    "description": "The visitor token and the page viewed, as JSON (sent as application/json or text/plain).",
    "content": {
        JSON: {
            "schema": VisitBody.model_json_schema(),
            "example": {"token": "eyJwIjoidmlzaXQi...", "url": "https://acme.example/pricing"},
        }
    },
}


@router.post(
    "/events/web",
    summary="Record a page view on the sender's website",
    description="Posted by `examples/track.js` on pages reached from an email link (`rv`, a signed visitor "
    "token naming the lead). Each page rule of the lead's sequences whose glob matches the page's path records "
    "its product event, at most once per token, rule and hour. No cookie, no address: the token only.",
    tags=["Events"],
    operation_id="recordPageView",
    openapi_extensions={"requestBody": VISIT_BODY},
    responses={
        200: {
            "description": "Taken: the events the page made (maybe none).",
            "content": {JSON: {"model": VisitAnswer}},
        },
        400: _refusal("Empty or malformed JSON; nothing recorded."),
        403: _refusal("The token is not a visitor token ripen signed; nothing recorded."),
        410: _refusal("The token expired, or its lead unsubscribed or is gone; nothing recorded."),
        413: _refusal("Body over 4 KiB; nothing recorded."),
        415: _refusal("Neither JSON nor text/plain; nothing recorded."),
        422: _refusal("`token` or `url` missing or invalid; nothing recorded."),
        503: _refusal("Busy; nothing recorded, try again."),
    },
)
def record_page_view() -> Response[str]:
    event = router.current_event
    services = app()
    try:
        token, path = _read(event.headers, event.body, bool(event.is_base64_encoded))
    except BodyError as exc:
        return _refused(exc.status, exc.code, exc.message)
    now = services.clock.now()
    try:
        claims = verify(services.token_key, token, Purpose.VISIT, now)
    except TokenError as exc:
        if exc.reason == "expired":
            return _refused(410, "expired_token", "This visitor token has expired; nothing was recorded.")
        return _refused(403, "forged_token", "This is not a valid visitor token; nothing was recorded.")
    lead = services.store.get_lead(claims.lead_id)
    if lead is None or lead.status is not LeadStatus.ACTIVE:
        return _refused(410, "lead_gone", "This visitor is no longer followed; nothing was recorded.")
    names = _page_events(services, claims.lead_id, path)
    window = int(now.timestamp()) // VISIT_WINDOW_SECONDS
    product_events = services.product_events
    try:
        for name in names:
            digest = hashlib.sha256(f"{token}|{name}|{window}".encode()).hexdigest()[:32]
            product_events.apply(LeadEvent(f"web-{digest}", name, now, lead_id=claims.lead_id))
    except RetryLaterError:
        return _refused(503, "busy", "Busy; nothing was recorded, try again in a moment.")
    services.metrics.count(VISITS_RECORDED)
    logger.info("page view recorded", extra={"lead_id": claims.lead_id, "events": list(names)})
    return _json(200, VisitAnswer(events=list(names)).model_dump_json())


def _page_events(services: Any, lead_id: str, path: str) -> list[str]:
    """The events the page rules of the lead's current enrollments make of a visit to `path`."""
    names: list[str] = []
    for record in services.store.enrollments_of(lead_id):
        e = record.enrollment
        seq = None if e.terminal else services.catalog.get(e.sequence, e.version)
        if seq is None:
            continue
        names.extend(name for name in seq.page_events(path) if name not in names)
    return names


def _read(headers: Any, body: str | None, base64_encoded: bool) -> tuple[str, str]:
    """The token and the path of the page viewed."""
    kind = media_type(headers)
    if not (is_json(kind) or kind == TEXT):
        raise BodyError(415, "unsupported_media_type", "Send the page view as JSON (application/json or text/plain).")
    data = raw_body(body, base64_encoded, MAX_VISIT_BODY_BYTES)
    if not data.strip():
        raise BodyError(400, "empty_body", 'The body is empty: send {"token": ..., "url": ...}.')
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise BodyError(400, "malformed_body", "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise BodyError(400, "malformed_body", 'The body must be a JSON object: {"token": ..., "url": ...}.')
    token, url = value.get("token"), value.get("url")
    if not isinstance(token, str) or not token:
        raise BodyError(422, "invalid_visit", "`token` is missing: the `rv` parameter of the email link.")
    try:
        parts = urlsplit(url) if isinstance(url, str) and len(url) <= MAX_URL_LENGTH else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise BodyError(
            422, "invalid_visit", f"`url` must be the page's full http(s) address, at most {MAX_URL_LENGTH} characters."
        )
    return token, parts.path or "/"


def _refused(code: int, error: str, message: str) -> Response[str]:
    if code != 503:
        app().metrics.count(VISITS_REFUSED)
    logger.info("page view refused", extra={"reason": error})
    return _json(code, VisitRejected(error=error, message=message).model_dump_json())


def _json(code: int, body: str) -> Response[str]:
    return Response(code, content_type=content_types.APPLICATION_JSON, headers={"Cache-Control": "no-store"}, body=body)
