"""Lead capture routes: `POST /leads` (landing pages post here), the double opt-in pages (`/confirm`)
and a plain thank-you page for sequences without one of their own.

JSON callers get JSON; a browser posting a plain form gets a 303 to the thank-you page, or a page
saying what to fix. Confirming takes a button press (a POST): link scanners that fetch every link in
an email (GET) can never confirm anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from ripen.app import app
from ripen.core.locales import from_accept_language
from ripen.core.tokens import Purpose, TokenClaims, TokenError, verify
from ripen.models.signup import (
    FIELDS,
    FieldError,
    FieldProblem,
    InvalidSignupError,
    Limits,
    SignupAccepted,
    SignupForm,
    SignupRejected,
    SignupStatus,
    consent_given,
    is_honeypot_filled,
    parse_signup,
    shown,
)
from ripen.ports.captcha import TOKEN_FIELDS
from ripen.ports.errors import RetryLaterError
from ripen.services.signup import (
    Capture,
    ConfirmStatus,
    ConsentRequiredError,
    NoSequenceError,
)
from ripen.web.bodies import FORM, JSON, BodyError, read_fields, wants_json
from ripen.web.pages import html_response_headers, page_answer, render_page

if TYPE_CHECKING:
    from ripen.app import App
    from ripen.core.sequence import Sequence
    from ripen.ports.captcha import CaptchaVerifier
    from ripen.services.signup import Signup

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]  # (Powertools leaves its __init__ unannotated)

MAX_CONFIRM_BODY = 4_096
THANKS: dict[str, str] = {
    "pending_confirmation": "Thanks! Please check your inbox and click the link in our email to confirm your address.",
    "enrolled": "Thanks for signing up! Your first email is on its way.",
}
RECEIVED = "Thanks, we've received your details."
LABELS = {
    "email": "Email address",
    "name": "Name",
    "consent": "Consent",
    "sequence": "Sequence",
    "tz": "Time zone",
    "body": "Form",
    "captcha": "Verification",
}


def _rejected(description: str, retry: bool = False) -> OpenAPIResponse:
    """A refusal: JSON for JSON callers, a page for browsers posting a form."""
    answer: OpenAPIResponse = {
        "description": description,
        "content": {JSON: {"model": SignupRejected}, "text/html": {"schema": {"type": "string"}}},
    }
    if retry:
        answer["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}}
    return answer


_signup_schema = SignupForm.model_json_schema()
SIGNUP_BODY = {
    "required": True,
    "description": "The signup, as JSON or as a plain HTML form (API Gateway may deliver the form base64-encoded).",
    "content": {
        JSON: {
            "schema": _signup_schema,
            "example": {
                "email": "jane@example.com",
                "name": "Jane",
                "sequence": "trial-nurture",
                "consent": True,
                "consent_version": "2026-03",
                "tz": "Europe/Berlin",
                "company": "Example Ltd",
            },
        },
        FORM: {"schema": _signup_schema},
    },
}


# -- POST /leads ----------------------------------------------------------------------------------------


@router.post(
    "/leads",
    summary="Capture a lead",
    description="Landing pages post signups here. Safe to repeat: the same address makes one lead and at most "
    "one enrollment per sequence, and nothing is ever sent twice. A filled honeypot field (`website`) is "
    "accepted without storing anything. With a CAPTCHA configured (CAPTCHA_PROVIDER), the widget's token "
    "(`cf-turnstile-response` or `h-captcha-response`) must be solved, or nothing is stored (422). Emails a "
    "signup would cause are limited per source IP, per mailbox and per day; over a limit the answer is the "
    "same and nothing is sent.",
    tags=["Leads"],
    operation_id="createLead",
    openapi_extensions={"requestBody": SIGNUP_BODY},
    responses={
        201: {
            "description": "Accepted. The same answer for a new address and a known one (so nobody can learn "
            "who is on the list); nothing is ever sent twice.",
            "content": {JSON: {"model": SignupAccepted}},
        },
        303: {
            "description": "Accepted (a plain form post): on to the sequence's thank-you page.",
            "headers": {"Location": {"description": "The thank-you page.", "schema": {"type": "string"}}},
            "content": {},
        },
        400: _rejected("Empty, malformed or undecodable body; nothing stored."),
        413: _rejected("Body larger than MAX_BODY_BYTES; nothing stored."),
        415: _rejected("Neither JSON nor a form; nothing stored."),
        422: _rejected("Fields to correct (each named), an unknown sequence, or consent missing; nothing stored."),
        503: _rejected("Busy; try again in a moment.", retry=True),
    },
)
def create_lead() -> Response[str]:
    event = router.current_event
    headers = event.headers
    as_json = wants_json(headers)
    services = app()
    settings = services.settings
    try:
        fields = read_fields(headers, event.body, bool(event.is_base64_encoded), settings.max_body_bytes, single=FIELDS)
    except BodyError as exc:
        logger.info("signup refused", extra={"reason": exc.code})
        return _refused(exc.status, SignupRejected(error=exc.code, message=exc.message), as_json, headers)
    if is_honeypot_filled(fields):
        logger.info("signup refused silently: honeypot filled")
        return _honeypot(services.signup, fields, as_json)
    source_ip = source_ip_of(event.raw_event)
    tokens = {name: fields.pop(name, None) for name in TOKEN_FIELDS.values()}  # never kept as attributes
    captcha = services.captcha
    if captcha is not None and not _solved(captcha, tokens.get(captcha.field), source_ip):
        logger.info("signup refused", extra={"reason": "captcha"})
        return _invalid([CAPTCHA_UNSOLVED], as_json, headers)
    try:
        form = parse_signup(fields, Limits(settings.max_attributes, settings.max_attribute_length))
        if form.source is None:
            form = form.model_copy(update={"source": referring_page(headers)})
        if form.locale is None:
            form = form.model_copy(update={"locale": from_accept_language(headers.get("accept-language"))})
        limits = services.signup_limits
        admit = limits.admission(source_ip, form.email) if limits is not None else None
        capture = services.signup.capture(form, admit=admit)
    except InvalidSignupError as exc:
        problems = [*exc.problems, *_sequence_problems(services.signup, fields, {p.field for p in exc.problems})]
        logger.info("signup refused", extra={"reason": "invalid_fields", "fields": [p.field for p in problems]})
        return _invalid(problems, as_json, headers, _choices(services.signup, problems))
    except NoSequenceError as exc:
        logger.info("signup refused", extra={"reason": "unknown_sequence"})
        return _invalid([_no_sequence(exc)], as_json, headers, exc.choices)
    except ConsentRequiredError:
        logger.info("signup refused", extra={"reason": "consent_missing"})
        return _invalid([CONSENT_MISSING], as_json, headers)
    except RetryLaterError:  # the lead kept changing, or the store is throttling
        logger.warning("signup not stored: busy")
        body = SignupRejected(error="busy", message="We're busy right now; please try again in a moment.")
        return _refused(503, body, as_json, headers, {"Retry-After": "2"})
    return _accepted(capture, as_json)


CONSENT_MISSING = FieldProblem("consent", "Please tick the box to agree to receive our emails.")
CAPTCHA_UNSOLVED = FieldProblem("captcha", "Please complete the check that you're human, then send the form again.")


def _solved(captcha: CaptchaVerifier, token: Any, source_ip: str | None) -> bool:
    return isinstance(token, str) and bool(token) and captcha.verify(token, source_ip)


def _no_sequence(exc: NoSequenceError) -> FieldProblem:
    named = f"There is no sequence '{shown(exc.name)}'" if exc.name else "No sequence was named"
    return FieldProblem("sequence", f"{named}; choose one of: {', '.join(exc.choices)}.")


def _sequence_problems(signup: Signup, fields: dict[str, Any], named: set[str]) -> list[FieldProblem]:
    """When other fields are wrong too, the sequence and the consent it needs are checked all the same,
    so a person learns everything to fix at once."""
    if "sequence" in named:
        return []
    value = fields.get("sequence")
    try:
        sequence = signup.sequence_for(value if isinstance(value, str) and value.strip() else None)
    except NoSequenceError as exc:
        return [_no_sequence(exc)]
    if sequence.consent_required and "consent" not in named and not consent_given(fields.get("consent")):
        return [CONSENT_MISSING]
    return []


def _choices(signup: Signup, problems: list[FieldProblem]) -> list[str] | None:
    return signup.sequences if any(p.field == "sequence" for p in problems) else None


def _accepted(capture: Capture, as_json: bool) -> Response[str]:
    """The same answer for every accepted signup to a sequence, new address or known (enrolled,
    unsubscribed, suppressed): anyone could otherwise learn who is on the list. What happened is in
    the logs (by lead id) and the enrollment's history."""
    return _answer_for(capture.sequence, as_json)


def _answer_for(sequence: Sequence, as_json: bool) -> Response[str]:
    status: SignupStatus = "pending_confirmation" if sequence.double_opt_in.enabled else "enrolled"
    return _thanks(status, sequence.name, sequence.thank_you_url, 201, as_json)


def _thanks(status: SignupStatus, sequence: str, url: str | None, code: int, as_json: bool) -> Response[str]:
    if as_json:
        body = SignupAccepted(status=status, sequence=sequence, message=THANKS[status], thank_you_url=url)
        return _json(code, body.model_dump_json())
    location = url or "thanks?" + urlencode({"status": status})
    return Response(303, headers={"Location": location, "Cache-Control": "no-store"}, body="")


def _honeypot(signup: Signup, fields: dict[str, Any], as_json: bool) -> Response[str]:
    """Looks exactly like a success, so a bot learns nothing; nothing is stored or sent."""
    named = fields.get("sequence")
    try:
        sequence = signup.sequence_for(named if isinstance(named, str) and named else None)
    except NoSequenceError:
        return _thanks("pending_confirmation", "", None, 201, as_json)
    return _answer_for(sequence, as_json)


def _invalid(
    problems: list[FieldProblem], as_json: bool, headers: Any, sequences: list[str] | None = None
) -> Response[str]:
    body = SignupRejected(
        error="invalid_fields",
        message="Some fields need correcting.",
        errors=[FieldError(field=p.field, message=p.message) for p in problems],
        sequences=sequences,
    )
    return _refused(422, body, as_json, headers)


HEADINGS = {
    400: "Something went wrong with the form",
    413: "The form sent too much",
    415: "The form could not be read",
    422: "Please check the form",
    503: "Please try again in a moment",
}


def _refused(
    code: int, body: SignupRejected, as_json: bool, headers: Any, extra: dict[str, str] | None = None
) -> Response[str]:
    if as_json:
        return _json(code, body.model_dump_json(exclude_none=True), extra)
    page = render_page(
        "signup_problem.html",
        title=HEADINGS.get(code, "Please check the form"),
        heading=HEADINGS.get(code, "Please check the form"),
        message=body.message,
        problems=[{"label": LABELS.get(e.field, e.field), "message": e.message} for e in body.errors],
        back=referring_page(headers),
    )
    return Response(code, headers={**html_response_headers(), **(extra or {})}, body=page)


def _json(code: int, body: str, extra: dict[str, str] | None = None) -> Response[str]:
    return Response(
        code,
        content_type=content_types.APPLICATION_JSON,
        headers={"Cache-Control": "no-store", **(extra or {})},
        body=body,
    )


def source_ip_of(event: dict[str, Any]) -> str | None:
    """The client's address as API Gateway saw it (HTTP API v2: requestContext.http.sourceIp)."""
    ip = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    return ip if isinstance(ip, str) and ip else None


def referring_page(headers: Any) -> str | None:
    """The page a form was posted from (Referer), without its query string: where consent was given."""
    value = headers.get("referer") or headers.get("Referer") or ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    page = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if len(page) > 200 or any(ord(c) < 33 or ord(c) == 127 for c in page):
        return None
    return page


# -- GET /thanks --------------------------------------------------------------------------------------------


@router.get(
    "/thanks",
    summary="Thank-you page",
    description="Where form posts land when their sequence has no thank_you_url.",
    tags=["Leads"],
    operation_id="thanks",
    responses={200: page_answer("A thank-you page.")},
)
def thanks(
    status: Annotated[str, Query(description="The signup's status, as POST /leads reported it.")] = "",
) -> Response[str]:
    text = THANKS.get(status, RECEIVED)
    return _message_page(200, "Thank you", "Thank you", [text])


# -- /confirm -------------------------------------------------------------------------------------------------

CONFIRM_BODY = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {"token": {"type": "string", "maxLength": 2048}},
                "required": ["token"],
            }
        }
    },
}


@router.get(
    "/confirm",
    summary="Double opt-in: the page a confirmation link opens",
    description="Shows a button; nothing is confirmed by opening the link (scanners prefetch links).",
    tags=["Confirmation"],
    operation_id="confirmPage",
    responses={
        200: page_answer("The page with the confirm button (or: already confirmed)."),
        400: page_answer("The link is broken."),
        410: page_answer("The link has expired, or the signup is gone."),
    },
)
def confirm_page(
    token: Annotated[str, Query(description="The signed token from the email's link.")] = "",
) -> Response[str]:
    services = app()
    claims = _claims(services, token)
    if isinstance(claims, Response):
        return claims
    state = services.signup.confirmation_state(claims.lead_id, claims.sequence or "", claims.run, claims.issued_at)
    if state is not None:
        return _confirm_result(services.signup, state, claims.sequence)
    sequence = services.signup.sequence_for(claims.sequence)
    page = render_page("confirm.html", title="Confirm your subscription", token=token, what=sequence.display_title)
    return Response(200, headers=html_response_headers(), body=page)


@router.post(
    "/confirm",
    summary="Double opt-in: confirm (the button on the confirm page)",
    tags=["Confirmation"],
    operation_id="confirm",
    openapi_extensions={"requestBody": CONFIRM_BODY},
    responses={
        200: page_answer("Confirmed (or already confirmed); the sequence starts at once."),
        400: page_answer("The link or the form is broken."),
        403: page_answer("This address may not be subscribed again this way."),
        410: page_answer("The link has expired, or the signup is gone."),
        413: page_answer("The body is too large."),
        415: page_answer("Not a form."),
        503: page_answer("Busy; try again in a moment."),
    },
)
def confirm() -> Response[str]:
    event = router.current_event
    services = app()
    try:
        fields = read_fields(
            event.headers, event.body, bool(event.is_base64_encoded), MAX_CONFIRM_BODY, single={"token"}
        )
    except BodyError as exc:
        return _message_page(exc.status, "This link didn't work", "This link didn't work", [exc.message], tone="error")
    token = fields.get("token")
    claims = _claims(services, token if isinstance(token, str) else "")
    if isinstance(claims, Response):
        return claims
    try:
        result = services.signup.confirm(claims.lead_id, claims.sequence or "", claims.run, claims.issued_at)
    except RetryLaterError:
        return _message_page(
            503, "Please try again", "Please try again in a moment", ["We're busy right now."], tone="error"
        )
    return _confirm_result(services.signup, result.status, claims.sequence)


def _claims(services: App, token: str) -> TokenClaims | Response[str]:
    try:
        claims = verify(services.token_key, token, Purpose.CONFIRM, services.clock.now())
    except TokenError as exc:
        logger.info("confirmation link refused", extra={"reason": exc.reason})
        if exc.reason == "expired":
            return _message_page(
                410,
                "This link has expired",
                "This link has expired",
                ["Confirmation links work for a limited time. Sign up again and we'll send you a fresh one."],
                tone="error",
            )
        return _message_page(
            400,
            "This link didn't work",
            "This link didn't work",
            ["The link looks incomplete. Please open it again from the email, or copy the whole address."],
            tone="error",
        )
    if not claims.sequence:
        return _message_page(
            400, "This link didn't work", "This link didn't work", ["The link names no list."], tone="error"
        )
    if claims.run is None or claims.issued_at is None:  # made before links named their run and date
        return _no_longer_valid()
    return claims


def _no_longer_valid() -> Response[str]:
    return _message_page(
        410,
        "This link is no longer valid",
        "This link is no longer valid",
        ["It is from an earlier signup. If you'd like to hear from us, sign up again and use the newest link."],
        tone="error",
    )


def _confirm_result(signup: Signup, status: ConfirmStatus, sequence_name: str | None) -> Response[str]:
    title = _sequence_title(signup, sequence_name)
    match status:
        case ConfirmStatus.CONFIRMED:
            return _message_page(
                200,
                "Confirmed",
                "Thanks, you're confirmed!",
                [f"You'll receive {title}. The first email is on its way."],
                tone="",
            )
        case ConfirmStatus.ALREADY_CONFIRMED:
            return _message_page(
                200,
                "Already confirmed",
                "You're already confirmed",
                [f"You're receiving {title}. There's nothing more to do."],
                tone="",
            )
        case ConfirmStatus.OUTDATED:
            return _no_longer_valid()
        case ConfirmStatus.REFUSED:
            return _message_page(
                403,
                "Not subscribed",
                "We can't subscribe this address with this link",
                ["If you'd like to hear from us again, please sign up again on our website."],
                tone="error",
            )
    return _message_page(
        410,
        "This signup has expired",
        "This signup has expired",
        ["We didn't hear back in time, so we removed the signup. Sign up again and we'll send you a fresh link."],
        tone="error",
    )


def _sequence_title(signup: Signup, name: str | None) -> str:
    try:
        return f"“{signup.sequence_for(name).display_title}”"
    except NoSequenceError:
        return "our emails"


def _message_page(code: int, title: str, heading: str, paragraphs: list[str], tone: str = "") -> Response[str]:
    body = render_page("message.html", title=title, heading=heading, paragraphs=paragraphs, tone=tone, link=None)
    return Response(code, headers=html_response_headers(), body=body)
