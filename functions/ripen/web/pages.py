"""Server-rendered pages (confirm, unsubscribe, preferences, errors): accessible, mobile-friendly,
working without JavaScript. Jinja2 with autoescape, so nothing a visitor sends can inject markup."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
    from jinja2 import Environment

    from ripen.web.i18n import Translator


@cache
def _environment() -> Environment:
    # Jinja2 on the first page only: the api's JSON routes never pay for importing it.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("ripen.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, translate: Translator | None = None, **context: Any) -> str:
    """Render `templates/<template>` (which extends base.html) to an HTML string, in the language
    of `translate` (`ripen.web.i18n`; English when none is given)."""
    from ripen.web.i18n import Translator

    t = translate or Translator(None)
    return _environment().get_template(template).render(_=t, lang=t.lang, **context)


def html_response_headers() -> dict[str, str]:
    """Headers every page carries: no caching of personal pages, no framing, no sniffing."""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'",
    }


def page_answer(description: str) -> OpenAPIResponse:
    """How the OpenAPI description documents an answer that is a server-rendered page."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}
