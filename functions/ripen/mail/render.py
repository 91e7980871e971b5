"""Rendering an email for one lead: Jinja2 (sandboxed, strict), Markdown, the shared layout, named
links, UTM parameters, inlined CSS and a plain-text alternative.

Safety rules, all enforced here:
- Templates run in Jinja2's immutable sandbox: no attribute tricks, no access to Python internals.
- A missing variable is an error (`StrictUndefined`), never an empty hole; optional fields use
  `default()`. An email that does not render completely is never sent.
- Every value from the lead is data, never markup: HTML is escaped; in Markdown bodies the
  characters Markdown would act on (`[`, `*`, `{`, `#`, ...) become HTML entities, so a name like
  `[win](https://evil.example)` or `{: onclick=... }` stays text; control characters (CR, LF, ...)
  become spaces, so nothing from a lead can break a header or a line.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown
from jinja2 import BaseLoader, StrictUndefined, TemplateError, TemplateNotFound, TemplateSyntaxError, UndefinedError
from jinja2.environment import Environment, Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from ripen.adapters.templates import find_email
from ripen.core.leads import MAX_FIRST_NAME
from ripen.core.locales import fallback_chain
from ripen.core.records import Lead
from ripen.mail.links import Link, rewrite_links, website_host
from ripen.mail.source import EmailSource, SourceError, blank_front_matter, parse_email
from ripen.mail.text import html_to_text

LAYOUTS_DIR = "_layouts"
MARKDOWN_EXTENSIONS = ("attr_list", "sane_lists", "tables")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
# What Markdown would act on inside a value, plus what HTML escaping covers; each becomes an entity.
_MARKDOWN_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~:"} | {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord('"'): "&#34;",
    ord("'"): "&#39;",
}


@dataclass(frozen=True)
class SenderDetails:
    """Who sends: shown in every footer (`sender.company`, `sender.postal_address`, `sender.website`)."""

    company: str
    postal_address: str
    website: str = ""


@dataclass(frozen=True)
class EmailContext:
    """Everything an email template may use (the context contract: docs/marketer-guide.md, "Emails")."""

    lead: Mapping[str, Any]
    sender: SenderDetails
    sequence_name: str
    sequence_title: str
    unsubscribe_url: str
    preferences_url: str
    confirm_url: str | None = None
    locale: str | None = None  # the lead's language: picks `name.<locale>` files down the fallback chain
    visit_token: str | None = None  # `rv` on links to the sender's website (a sequence with page rules)

    def localized(self, name: str) -> list[str | Template]:
        """The template names to try for `name` in this lead's language, most specific first:
        `{% include localized("_partials/footer.html") %}` includes `footer.de.html` for a German lead."""
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        names: list[str | Template] = [f"{stem}.{each}{dot}{suffix}" for each in fallback_chain(self.locale)]
        return [*names, name]

    def variables(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "lead": self.lead,
            "sender": {
                "company": self.sender.company,
                "postal_address": self.sender.postal_address,
                "website": self.sender.website,
            },
            "sequence": {"name": self.sequence_name, "title": self.sequence_title},
            # Links ripen builds itself are trusted markup; everything from the lead is not.
            "unsubscribe_url": trusted(self.unsubscribe_url),
            "preferences_url": trusted(self.preferences_url),
            "locale": self.locale or "",
            "localized": self.localized,
        }
        if self.confirm_url is not None:
            values["confirm_url"] = trusted(self.confirm_url)
        return values


def trusted(text: str) -> Markup:
    """Mark text ripen produced itself (its own links, an already-rendered body, escaped values) as
    safe to output as is. Never call it on anything that came from a lead."""
    return Markup(text)  # noqa: S704 - only for ripen's own output, see above


def lead_view(lead: Lead) -> dict[str, Any]:
    """The lead as templates see it: only the fields it has, so a missing one is an error unless
    the template gives a `default()`. Anyone can post a form, so free-form attributes (and the
    company among them) reach emails only once the lead confirmed their address; the name is
    checked at the form (letters only) and the first name kept short."""
    confirmed = lead.confirmed
    view: dict[str, Any] = {"attributes": dict(lead.attributes) if confirmed else {}}
    name = " ".join((lead.name or "").split())
    if name:
        view["name"] = name
        view["first_name"] = name.split(" ")[0][:MAX_FIRST_NAME]
    company = str(lead.attributes.get("company") or "").strip()
    if company and confirmed:
        view["company"] = company
    return view


class RenderError(Exception):
    """An email that cannot be rendered completely: where (file and line, relative to the templates
    folder) and why. Such an email is never sent."""

    def __init__(self, file: str, line: int, message: str, fix: str | None = None) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str
    from_: str | None
    reply_to: str | None
    links: tuple[Link, ...] = field(default_factory=tuple)
    language: str | None = None  # the locale of the translation used (None: the default file)

    @property
    def named_links(self) -> list[str]:
        return sorted({link.name for link in self.links if link.name})


class _TemplatesLoader(BaseLoader):
    """Loads emails, layouts and partials from the templates folder. An email's front matter is
    served as blank lines, so every line number Jinja reports is a line of the file."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = (self.root / template).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise TemplateNotFound(template)
        mtime = path.stat().st_mtime
        source, _ = blank_front_matter(path.read_text(encoding="utf-8"))
        return source, str(path), lambda: path.is_file() and path.stat().st_mtime == mtime


def _plain(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return _CONTROL.sub(" ", value)
    return value


def _markdown_safe(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    return trusted(_CONTROL.sub(" ", str(value)).translate(_MARKDOWN_ENTITIES))


def _environment(loader: BaseLoader, autoescape: bool, finalize: Callable[[Any], Any]) -> Environment:
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=finalize,
        keep_trailing_newline=True,
    )


class Renderer:
    """Renders the emails under one templates folder. `own_url` is the API's base URL: links to it
    (confirm, unsubscribe, preferences) get no UTM parameters."""

    def __init__(self, templates_dir: Path, *, own_url: str | None = None, utm_source: str = "ripen") -> None:
        self.root = Path(templates_dir)
        loader = _TemplatesLoader(self.root)
        self._html = _environment(loader, True, _plain)
        self._markdown = _environment(loader, True, _markdown_safe)
        self._text = _environment(loader, False, _plain)
        self.own_url = own_url.rstrip("/") if own_url else None
        self.utm_source = utm_source
        self._lines: dict[str, Any] = {}

    def find(self, sequence_name: str, email_name: str, locale: str | None = None) -> Path | None:
        return find_email(self.root / sequence_name, email_name, locale)

    def relative(self, path: Path | str) -> str:
        path = Path(path)
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def source(self, path: Path) -> EmailSource:
        try:
            return parse_email(path)
        except SourceError as exc:
            raise RenderError(self.relative(path), exc.line, exc.message, exc.fix) from None

    # -- rendering ------------------------------------------------------------------------------

    def render(self, path: Path, context: EmailContext, *, email_name: str | None = None) -> RenderedEmail:
        """The email at `path` for one lead; RenderError when any part does not render."""
        email = self.source(path)
        name = email_name or email.name
        variables = context.variables()
        try:
            subject = self._line(email, "subject", email.meta.subject, variables)
            preheader = self._line(email, "preheader", email.meta.preheader, variables)
            body_html = self._body(email, variables)
            utm = self._utm(context.sequence_name, name) if email.meta.utm else None
            untouched = (self.own_url,) if self.own_url else ()
            website = website_host(context.sender.website)
            visit = (website, context.visit_token) if website and context.visit_token else None
            body_html, _ = rewrite_links(body_html, utm, untouched, visit)
            text_body = self._text_body(email, variables, body_html)
            layout = email.meta.layout
            page = self._template(self._html, context.localized(f"{LAYOUTS_DIR}/{layout}.html"), email).render(
                **variables, body=trusted(body_html), subject=subject, preheader=preheader
            )
            page, links = rewrite_links(page, utm, untouched, visit)
            html = _inline_css(page)
            text = self._template(self._text, context.localized(f"{LAYOUTS_DIR}/{layout}.txt"), email).render(
                **variables, body=trusted(text_body), subject=subject, preheader=preheader
            )
        except RenderError:
            raise
        except Exception as exc:  # a template bug of any kind: never half an email
            raise self._error(exc, email) from exc
        return RenderedEmail(
            subject=subject,
            preheader=preheader,
            html=html,
            text=_tidy_text(text),
            from_=email.meta.from_,
            reply_to=email.meta.reply_to,
            links=tuple(links),
        )

    def render_layout(self, layout: str, context: EmailContext, body_html: str, body_text: str) -> tuple[str, str]:
        """A layout around a given body (used by lint to check every layout's footer)."""
        variables = context.variables()
        html_name, text_name = f"{LAYOUTS_DIR}/{layout}.html", f"{LAYOUTS_DIR}/{layout}.txt"
        try:
            html = self._html.get_template(html_name).render(
                **variables, body=trusted(body_html), subject="Subject", preheader="Preheader"
            )
            text = self._text.get_template(text_name).render(
                **variables, body=trusted(body_text), subject="Subject", preheader="Preheader"
            )
        except TemplateNotFound as exc:
            missing = str(exc.name or html_name)
            raise RenderError(missing, 1, f"layout file {missing} is missing") from None
        except Exception as exc:
            raise self._error(exc, None, fallback=html_name) from exc
        return _inline_css(html), _tidy_text(text)

    def _line(self, email: EmailSource, key: str, template: str, variables: dict[str, Any]) -> str:
        """Subject or preheader: one line of plain text, whatever the lead's data holds."""
        try:
            compiled = self._lines.get(template)
            if compiled is None:
                compiled = self._lines[template] = self._text.from_string(template)
            rendered = compiled.render(**variables)
        except TemplateError as exc:
            raise RenderError(self.relative(email.path), email.line_of(key), f"{key}: {_explain(exc)}") from None
        return " ".join(rendered.split())

    def _body(self, email: EmailSource, variables: dict[str, Any]) -> str:
        name = self.relative(email.path)
        if email.kind == "html":
            return str(self._template(self._html, name, email).render(**variables))
        text = str(self._template(self._markdown, name, email).render(**variables))
        return markdown.markdown(text, extensions=list(MARKDOWN_EXTENSIONS), output_format="html")

    def _text_body(self, email: EmailSource, variables: dict[str, Any], body_html: str) -> str:
        if email.text_path is None:
            return html_to_text(body_html)
        return str(self._template(self._text, self.relative(email.text_path), email).render(**variables))

    def _template(self, environment: Environment, name: str | list[str | Template], email: EmailSource) -> Template:
        try:
            return environment.get_or_select_template(name)
        except TemplateNotFound as exc:
            missing = str(exc.name or (name if isinstance(name, str) else name[-1]))
            if missing.startswith(LAYOUTS_DIR):
                raise RenderError(
                    self.relative(email.path),
                    email.line_of("layout"),
                    f"layout '{email.meta.layout}' not found ({missing})",
                    f"create templates/{missing} or use 'layout: default'",
                ) from None
            raise

    def _utm(self, sequence: str, email: str) -> dict[str, str]:
        return {"utm_source": self.utm_source, "utm_medium": "email", "utm_campaign": sequence, "utm_content": email}

    def _error(self, exc: BaseException, email: EmailSource | None, fallback: str | None = None) -> RenderError:
        file, line = (self.relative(email.path), email.body_line) if email else (fallback or "?", 1)
        if isinstance(exc, TemplateSyntaxError):
            if exc.filename:
                file = self.relative(exc.filename)
            return RenderError(file, exc.lineno or line, f"template syntax: {exc.message}")
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename and Path(frame.filename).is_file() and _inside(frame.filename, self.root):
                file, line = self.relative(frame.filename), frame.lineno or line
        if isinstance(exc, TemplateNotFound):
            return RenderError(file, line, f"'{exc.name}' not found", "check the name in the include/import")
        return RenderError(file, line, _explain(exc), _fix(exc))


def _inside(filename: str, root: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def _explain(exc: BaseException) -> str:
    if isinstance(exc, UndefinedError):
        return f"undefined value: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"not allowed in an email template: {exc}"
    if isinstance(exc, TemplateError):
        return f"template error: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _fix(exc: BaseException) -> str | None:
    if isinstance(exc, UndefinedError):
        return 'some leads lack this value: give it a fallback, e.g. {{ lead.first_name | default("there") }}'
    return None


def _inline_css(html: str) -> str:
    import css_inline

    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    inlined: str = inliner.inline(html)
    if html.lstrip().lower().startswith("<!doctype") and not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!DOCTYPE html>\n" + inlined
    return inlined


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"
