"""Unsubscribe and preferences pages (routes of the `api` function).

- `POST /unsubscribe?token=...`: RFC 8058 one-click. Mailbox providers POST the body
  `List-Unsubscribe=One-Click` to the List-Unsubscribe URL; the lead is unsubscribed at once and
  gets 200 (no redirect). The button on the unsubscribe page posts here too. Idempotent.
- `GET /unsubscribe?token=...`: a page with a confirm button and gentler choices. A GET never
  changes anything: link scanners and previews fetch every link in an email.
- `GET /preferences?token=...` and `POST /preferences?token=...` (`choice=pause-14|pause-30|pause-90|
  leave-sequence|leave-all|resume`).

Tokens are signed, expiring and bound to their purpose (`ripen.core.tokens`). A forged, cut-off,
expired or wrong-purpose token gets a friendly page and changes nothing; a token used again
changes nothing either, since the lead is already where it asked to be. An unsubscribe token
unsubscribes however old it is; the preference choices it offers end when it would have expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ValidationError

from ripen.app import app
from ripen.core.locales import from_accept_language
from ripen.core.tokens import Purpose, TokenClaims, TokenError, issue, verify
from ripen.web.bodies import BodyError, read_unsubscribe_form
from ripen.web.i18n import Translator, long_date, translator
from ripen.web.pages import html_response_headers, page_answer, render_page

if TYPE_CHECKING:
    from ripen.app import App

router = Router()  # type: ignore[no-untyped-call]
Page = Response[str]

ONE_CLICK = ("List-Unsubscribe", "One-Click")
PAUSE_LABELS = {14: "2 weeks", 30: "1 month", 90: "3 months"}
Choice = Literal["pause-14", "pause-30", "pause-90", "leave-sequence", "leave-all", "resume"]


class PreferencesForm(BaseModel):
    choice: Choice


# -- pages ------------------------------------------------------------------------------------------


def _page(status: int, template: str, t: Translator, **context: Any) -> Page:
    body = render_page(template, t, **context)
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers=html_response_headers()
    )


def _message(
    status: int, t: Translator, title: str, paragraphs: list[str], tone: str = "", link: dict[str, str] | None = None
) -> Page:
    """A page saying one thing; `title` and `paragraphs` are English text, translated here."""
    texts = [t(p) for p in paragraphs]
    return _page(status, "message.html", t, title=t(title), heading=t(title), paragraphs=texts, tone=tone, link=link)


def _translator(locale: str | None = None) -> Translator:
    """The pages speak the lead's language when the link names a lead with one, else the browser's."""
    return translator(locale or from_accept_language(router.current_event.headers.get("accept-language")))


_TOKEN_PAGES = {
    "expired": (
        410,
        "This link has expired",
        "Links in our emails work for a limited time. Use the link in a more recent email from us, "
        "or reply to any of our emails and we'll take care of it.",
    ),
    "wrong-purpose": (
        400,
        "This link is meant for something else",
        "Use the link in the email exactly as it is, or reply to the email and we'll take care of it.",
    ),
}
_BROKEN = (
    400,
    "This link doesn't work",
    "It may have been cut off or changed when it was copied. Use the link in the email exactly as it is, "
    "or reply to the email and we'll take care of it.",
)


def _token_problem(reason: str) -> Page:
    status, title, text = _TOKEN_PAGES.get(reason, _BROKEN)
    return _message(status, _translator(), title, [text, "Nothing has been changed."], tone="error")


def _sender(services: App, t: Translator) -> str:
    return services.settings.sender_company or t("our")


def _sequence_title(services: App, name: str | None) -> str | None:
    if not name:
        return None
    try:
        return services.catalog.current(name).display_title
    except (KeyError, ValueError):
        return None


# -- request parsing --------------------------------------------------------------------------------


def _form(services: App) -> dict[str, str] | Page:
    """The posted fields, or a page refusing a body over the limits every route shares (413)."""
    event = router.current_event
    limit = services.settings.max_body_bytes
    try:
        return read_unsubscribe_form(event.headers, event.body, bool(event.is_base64_encoded), limit)
    except BodyError as exc:
        t = _translator()
        return _message(exc.status, t, "This request didn't work", [exc.message, "Nothing has been changed."], "error")


def _claims(services: App, purpose: Purpose, form: dict[str, str] | None = None) -> TokenClaims | Page:
    event = router.current_event
    token = event.get_query_string_value("token") or (form or {}).get("token") or ""
    try:
        return verify(services.token_key, token, purpose, services.clock.now())
    except TokenError as exc:
        return _token_problem(exc.reason)


def _token() -> str:
    return router.current_event.get_query_string_value("token") or ""


def _step_of(claims: TokenClaims) -> str | None:
    return claims.message.rsplit("#", 1)[-1] if claims.message else None


def _done_unsubscribed(services: App, t: Translator, changed: bool) -> Page:
    website = services.settings.sender_website
    paragraphs = (
        ["You won't get any more emails from us. If one was already on its way, it has been stopped."]
        if changed
        else ["You were already unsubscribed, so nothing has changed. You won't get any more emails from us."]
    )
    paragraphs.append("Changed your mind? Sign up again on our website whenever you like.")
    link = {"url": website, "text": t("Visit our website")} if website else None
    return _message(200, t, "You're unsubscribed", paragraphs, tone="success", link=link)


def _gone(t: Translator) -> Page:
    return _message(200, t, "You're unsubscribed", ["You won't get any more emails from us."], tone="success")


# -- routes -----------------------------------------------------------------------------------------


TOKEN_ANSWERS: dict[int, OpenAPIResponse] = {
    400: page_answer("The link is broken or meant for something else; nothing changed."),
    410: page_answer("The link has expired; nothing changed."),
}
BODY_ANSWERS: dict[int, OpenAPIResponse] = {
    413: page_answer("The body is larger than MAX_BODY_BYTES or has too many fields; nothing changed."),
}
TOKEN_QUERY = {
    "name": "token",
    "in": "query",
    "required": False,
    "description": "The signed token from the email's link.",
    "schema": {"type": "string", "maxLength": 1024},
}


def _form_body(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": False,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": properties}}},
    }


@router.get(
    "/unsubscribe",
    summary="Unsubscribe: the page an unsubscribe link opens",
    description="Shows a confirm button and the preference choices; opening it never unsubscribes.",
    tags=["Subscription"],
    operation_id="unsubscribePage",
    openapi_extensions={"parameters": [TOKEN_QUERY]},
    responses={200: page_answer("The unsubscribe page (or: already unsubscribed)."), **TOKEN_ANSWERS},
)
def unsubscribe_page() -> Page:
    services = app()
    claims = _claims(services, Purpose.UNSUBSCRIBE)
    if isinstance(claims, Response):
        return claims
    standing = services.preferences.standing(claims.lead_id, claims.sequence)
    t = _translator(standing.locale)
    if standing.unsubscribed or standing.suppressed or not standing.found:
        return _gone(t)
    now = services.clock.now()
    preferences = None
    if not claims.expired(now):  # the preferences token it offers never outlives the unsubscribe token
        expires = min(now + services.link_lifetime, claims.expires_at)
        preferences = issue(
            services.token_key, Purpose.PREFERENCES, claims.lead_id, expires, claims.sequence, issued_at=now
        )
    return _page(
        200,
        "unsubscribe.html",
        t,
        title=t("Unsubscribe"),
        token=_token(),
        preferences_token=preferences,
        sender=_sender(services, t),
        sequence_title=_sequence_title(services, claims.sequence) if standing.in_sequence else None,
        pause_choices=list(PAUSE_LABELS.items()),
    )


@router.post(
    "/unsubscribe",
    summary="Unsubscribe from everything (RFC 8058 one-click, or the page's button)",
    description="Idempotent; answers 200 without a redirect, as RFC 8058 asks.",
    tags=["Subscription"],
    operation_id="unsubscribe",
    openapi_extensions={
        "parameters": [TOKEN_QUERY],
        "requestBody": _form_body(
            {
                "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]},
                "token": {"type": "string", "maxLength": 1024},
            }
        ),
    },
    responses={200: page_answer("Unsubscribed (or already unsubscribed)."), **TOKEN_ANSWERS, **BODY_ANSWERS},
)
def unsubscribe() -> Page:
    services = app()
    form = _form(services)
    if isinstance(form, Response):
        return form
    claims = _claims(services, Purpose.UNSUBSCRIBE, form)
    if isinstance(claims, Response):
        return claims
    one_click = form.get(ONE_CLICK[0]) == ONE_CLICK[1]
    step = _step_of(claims)
    how = f"{'one-click unsubscribe' if one_click else 'unsubscribe page'}{f' ({step})' if step else ''}"
    result = services.preferences.unsubscribe(claims.lead_id, how, message_key=claims.message)
    return _done_unsubscribed(services, _translator(result.locale), result.changed)


@router.get(
    "/preferences",
    summary="Email preferences: pause, leave this sequence, leave everything",
    tags=["Subscription"],
    operation_id="preferencesPage",
    openapi_extensions={"parameters": [TOKEN_QUERY]},
    responses={200: page_answer("The preference choices."), **TOKEN_ANSWERS},
)
def preferences_page() -> Page:
    services = app()
    claims = _claims(services, Purpose.PREFERENCES)
    if isinstance(claims, Response):
        return claims
    return _preferences_form(services, claims, 200)


def _preferences_form(services: App, claims: TokenClaims, status: int, problem: str | None = None) -> Page:
    standing = services.preferences.standing(claims.lead_id, claims.sequence)
    t = _translator(standing.locale)
    if not standing.found or standing.unsubscribed or standing.suppressed:
        return _gone(t)
    notice = t(problem) if problem else None
    if notice is None and standing.paused_until:
        notice = t("Your emails are paused until %(date)s.", date=long_date(standing.paused_until, t))
    return _page(
        status,
        "preferences.html",
        t,
        title=t("Email preferences"),
        token=_token(),
        notice=notice,
        paused=standing.paused_until is not None,
        sender=_sender(services, t),
        sequence_title=_sequence_title(services, claims.sequence) if standing.in_sequence else None,
        pause_choices=list(PAUSE_LABELS.items()),
    )


@router.post(
    "/preferences",
    summary="Save a preference choice",
    tags=["Subscription"],
    operation_id="savePreferences",
    openapi_extensions={
        "parameters": [TOKEN_QUERY],
        "requestBody": _form_body({"choice": {"type": "string"}, "token": {"type": "string", "maxLength": 1024}}),
    },
    responses={200: page_answer("The choice is saved."), **TOKEN_ANSWERS, **BODY_ANSWERS},
)
def save_preferences() -> Page:
    services = app()
    form = _form(services)
    if isinstance(form, Response):
        return form
    claims = _claims(services, Purpose.PREFERENCES, form)
    if isinstance(claims, Response):
        return claims
    try:
        choice = PreferencesForm.model_validate(form).choice
    except ValidationError:
        return _preferences_form(services, claims, 400, problem="Please choose one of the options below.")
    service = services.preferences
    if choice == "leave-all":
        left = service.unsubscribe(claims.lead_id, "preferences page")
        return _done_unsubscribed(services, _translator(left.locale), left.changed)
    if choice == "leave-sequence":
        if not claims.sequence:
            return _preferences_form(services, claims, 400, problem="Please choose one of the options below.")
        result = service.leave(claims.lead_id, claims.sequence)
        t = _translator(result.locale)
        title = _sequence_title(services, claims.sequence) or t("this series")
        text = (
            t("You won't get any more emails about “%(title)s”.", title=title)
            if result.changed
            else t("You had already left “%(title)s”.", title=title)
        )
        return _message(200, t, "Done", [text, "Other emails you signed up for continue as before."], tone="success")
    if choice == "resume":
        result = service.resume(claims.lead_id)
        text = "Your emails will start again." if result.changed else "Your emails were not paused, so nothing changed."
        return _message(200, _translator(result.locale), "Done", [text], tone="success")
    days = int(choice.removeprefix("pause-"))
    result = service.pause(claims.lead_id, days)
    t = _translator(result.locale)
    if result.changed and result.until is not None:
        text = t(
            "Your emails are paused until %(date)s. After that they continue where they left off.",
            date=long_date(result.until, t),
        )
    else:
        text = "Your emails were already paused (or there is nothing to pause), so nothing changed."
    return _message(200, t, "Paused", [text], tone="success")
