"""`POST /events`: product events (`Lead Event`) over HTTP, for backends outside AWS or without the
events bus. The same body as on the bus, one event or a JSON array of up to 100.

Never open to the public: the route is authorized by IAM (SigV4, `Auth: AWS_IAM` in template.yaml),
and this handler also refuses a request API Gateway did not authorize that way. Each event is
applied as the events function would (`ProductEvents.apply`); in a batch the good events are applied
and each bad one is reported by its index, so nothing is half-applied and a retry is safe (ids).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from ripen.app import app
from ripen.core.events import EventOutcome
from ripen.models.events import (
    MAX_BATCH,
    MAX_EVENTS_BODY_BYTES,
    EventFieldError,
    EventItemResult,
    EventsAnswer,
    EventsRejected,
    InvalidLeadEventError,
    LeadEventBody,
    parse_event,
)
from ripen.ports.errors import RetryLaterError
from ripen.web.bodies import JSON, BodyError, is_json, media_type, raw_body

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]  # (Powertools leaves its __init__ unannotated)

_STATUS = {
    EventOutcome.APPLIED: "applied",
    EventOutcome.DUPLICATE: "duplicate",
    EventOutcome.UNKNOWN_LEAD: "unknown_lead",
    EventOutcome.TOO_OLD: "too_old",
    EventOutcome.IN_PROGRESS: "retry",
}


def _refusal(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": EventsRejected}}}


_event_schema = LeadEventBody.model_json_schema()
EVENTS_BODY = {
    "required": True,
    "description": "One Lead Event, or a JSON array of up to 100.",
    "content": {
        JSON: {
            "schema": {"oneOf": [_event_schema, {"type": "array", "items": _event_schema, "maxItems": MAX_BATCH}]},
            "example": {
                "email": "ana@example.com",
                "event": "trial_converted",
                "id": "evt_acme_0001",
                "occurred_at": "2026-03-11T10:15:00Z",
                "properties": {"plan": "team"},
            },
        }
    },
}


@router.post(
    "/events",
    summary="Record product events about leads",
    description="What leads do in the product (Lead Event): goals, exits, scores, `wait_for` signals and triggers "
    "of the sequences, and attributes for the lead. Authorized with IAM (SigV4). Each `id` is applied once; an "
    "event never creates a lead. A batch applies its good events and reports each bad one by index.",
    tags=["Events"],
    operation_id="recordEvents",
    openapi_extensions={"requestBody": EVENTS_BODY},
    responses={
        200: {
            "description": "Every event was read; each has a result (applied, duplicate, unknown_lead, too_old, "
            "invalid, retry). Send `retry` ones again.",
            "content": {JSON: {"model": EventsAnswer}},
        },
        400: _refusal("Empty or malformed JSON; nothing applied."),
        403: _refusal("Not authorized with IAM; nothing applied."),
        413: _refusal("Body over 512 KiB or more than 100 events; nothing applied."),
        415: _refusal("Not JSON; nothing applied."),
        422: _refusal("A single event, or every event of a batch, is invalid (each field named); nothing applied."),
    },
)
def record_events() -> Response[str]:
    event = router.current_event
    if not _iam_authorized(event.raw_event):
        logger.warning("events refused: not authorized with IAM")
        return _refused(403, "forbidden", "POST /events takes requests signed with AWS SigV4 (IAM) only.")
    try:
        items, single = _read(event.headers, event.body, bool(event.is_base64_encoded))
    except BodyError as exc:
        logger.info("events refused", extra={"reason": exc.code})
        return _refused(exc.status, exc.code, exc.message)
    answer = EventsAnswer()
    service = app().product_events
    for index, item in enumerate(items):
        result = _apply_one(service, index, item)
        answer.results.append(result)
        if result.status in ("applied", "duplicate"):
            setattr(answer, result.status, getattr(answer, result.status) + 1)
        else:
            answer.rejected += 1
    invalid = [r for r in answer.results if r.status == "invalid"]
    if len(invalid) == len(items):
        errors = [
            EventFieldError(field=e.field if single else f"[{r.index}].{e.field}", message=e.message)
            for r in invalid
            for e in r.errors
        ]
        message = "The event is invalid." if single else "Every event of the batch is invalid."
        return _json(422, EventsRejected(error="invalid_event", message=message, errors=errors).model_dump_json())
    logger.info(
        "events recorded",
        extra={"events": len(items), "applied": answer.applied, "duplicate": answer.duplicate},
    )
    return _json(200, answer.model_dump_json(exclude_none=True))


def _apply_one(service: Any, index: int, item: Any) -> EventItemResult:
    event_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
    shown_id = event_id[:128] if event_id else None
    try:
        lead_event = parse_event(item)
    except InvalidLeadEventError as exc:
        service.metrics.count("ProductEventsRefused")
        errors = [EventFieldError(field=p.field, message=p.message) for p in exc.problems]
        return EventItemResult(index=index, status="invalid", id=shown_id, errors=errors)
    try:
        outcome = service.apply(lead_event).outcome
    except RetryLaterError:
        logger.warning("event not applied now: busy", extra={"event": lead_event.name})
        return EventItemResult(index=index, status="retry", id=shown_id)
    return EventItemResult(index=index, status=_STATUS[outcome], id=shown_id)


def _read(headers: Any, body: str | None, base64_encoded: bool) -> tuple[list[Any], bool]:
    """The events of the body, and whether it was a single event (not an array)."""
    if not is_json(media_type(headers)):
        raise BodyError(415, "unsupported_media_type", "Send the events as application/json.")
    data = raw_body(body, base64_encoded, MAX_EVENTS_BODY_BYTES)
    if not data.strip():
        raise BodyError(400, "empty_body", "The body is empty: send one event, or an array of events.")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise BodyError(400, "malformed_body", "The body is not valid JSON.") from None
    if isinstance(value, dict):
        return [value], True
    if not isinstance(value, list):
        raise BodyError(400, "malformed_body", "The body must be one event (a JSON object) or an array of events.")
    if not value:
        raise BodyError(400, "empty_body", "The array holds no event.")
    if len(value) > MAX_BATCH:
        raise BodyError(413, "payload_too_large", f"At most {MAX_BATCH} events per request; this one has {len(value)}.")
    return value, False


def _iam_authorized(raw: dict[str, Any]) -> bool:
    """API Gateway puts the caller's IAM identity in the request context of a route authorized by IAM."""
    authorizer = (raw.get("requestContext") or {}).get("authorizer") or {}
    iam = authorizer.get("iam") if isinstance(authorizer, dict) else None
    return isinstance(iam, dict) and bool(iam.get("userArn") or iam.get("userId"))


def _refused(code: int, error: str, message: str) -> Response[str]:
    return _json(code, EventsRejected(error=error, message=message).model_dump_json())


def _json(code: int, body: str) -> Response[str]:
    return Response(code, content_type=content_types.APPLICATION_JSON, headers={"Cache-Control": "no-store"}, body=body)
