"""`ripen preview`: every email of every sequence rendered to files a marketer can open.

For each sequence, in step order (the double opt-in confirmation first): `<out>/<sequence>/<step>.html`,
`.txt` and `.eml` (the complete message, headers included, to open in a mail client), optionally a
phone-sized screenshot `.png` through Chromium, and `<out>/index.html` listing them all with
subjects, preheaders and named links.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ripen.adapters.templates import load_catalog
from ripen.core.links import Links
from ripen.core.records import Lead, MessageClaim, message_key
from ripen.core.sequence import EmailStep, Sequence
from ripen.core.validator import Catalog
from ripen.mail.compose import Composer
from ripen.mail.render import Renderer, RenderError, SenderDetails
from ripen_dev.mail.samples import SAMPLE_BASE_URL, SAMPLE_KEY, SAMPLE_LEADS, SAMPLE_SENDER, SAMPLE_TIME

CHROMIUM = "/usr/bin/chromium"
PHONE_WIDTH, PHONE_HEIGHT = 390, 844


@dataclass
class PreviewPage:
    sequence: str
    step: str
    email: str
    kind: Literal["nurture", "confirmation"]
    subject: str = ""
    preheader: str = ""
    named_links: list[str] = field(default_factory=list)
    html_file: str = ""
    text_file: str = ""
    eml_file: str = ""
    png_file: str = ""
    error: str | None = None


@dataclass
class PreviewResult:
    index: Path
    pages: list[PreviewPage]

    @property
    def errors(self) -> list[PreviewPage]:
        return [page for page in self.pages if page.error]


def emails_in_order(sequence: Sequence) -> list[tuple[str, str, Literal["nurture", "confirmation"]]]:
    """(step id, email, kind) for every email a lead can get, in the order the steps are written."""
    found: list[tuple[str, str, Literal["nurture", "confirmation"]]] = []
    if sequence.double_opt_in.enabled:
        found.append(("confirm", sequence.double_opt_in.email, "confirmation"))
    for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True):
        if isinstance(step, EmailStep):
            found.append((step_id, step.email, "nurture"))
    return found


def write_previews(
    templates: Path,
    out: Path,
    lead: Lead | None = None,
    sender: SenderDetails = SAMPLE_SENDER,
    screenshots: bool = False,
    chromium: str = CHROMIUM,
    catalog: Catalog | None = None,
) -> PreviewResult:
    catalog = catalog if catalog is not None else load_catalog(templates)
    lead = lead or SAMPLE_LEADS["full"]
    renderer = Renderer(templates, own_url=SAMPLE_BASE_URL)
    composer = Composer(renderer, Links(SAMPLE_BASE_URL, SAMPLE_KEY, timedelta(days=60)), sender)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    sequences = []
    pages: list[PreviewPage] = []
    for name in catalog.names():
        sequence = catalog.current(name)
        folder = out / name
        folder.mkdir()
        own: list[PreviewPage] = []
        for step, email, kind in emails_in_order(sequence):
            page = PreviewPage(name, step, email, kind)
            claim = MessageClaim(
                message_key(lead.lead_id, name, 1, step),
                lead.lead_id,
                name,
                sequence.version,
                1,
                step,
                email,
                kind,
                SAMPLE_TIME,
            )
            try:
                message = composer.compose(claim, lead, sequence, SAMPLE_TIME)
                _, rendered = composer.render(claim, lead, sequence, SAMPLE_TIME)
            except RenderError as exc:
                page.error = str(exc)
            else:
                page.subject, page.preheader, page.named_links = (
                    rendered.subject,
                    rendered.preheader,
                    rendered.named_links,
                )
                for suffix, content in ((".html", message.html), (".txt", message.text)):
                    (folder / f"{step}{suffix}").write_text(content, encoding="utf-8")
                (folder / f"{step}.eml").write_bytes(message.mime())
                page.html_file, page.text_file, page.eml_file = (f"{name}/{step}{s}" for s in (".html", ".txt", ".eml"))
            own.append(page)
        sequences.append({"name": name, "title": sequence.display_title, "pages": own})
        pages.extend(own)
    if screenshots:
        _screenshots(out, pages, chromium)
    environment = Environment(
        loader=PackageLoader("ripen_dev.mail", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )
    who = lead.name or "a lead with no name"
    index = out / "index.html"
    index.write_text(
        environment.get_template("preview_index.html").render(
            sequences=sequences, sender=sender, screenshots=screenshots, lead_description=who
        ),
        encoding="utf-8",
    )
    return PreviewResult(index, pages)


def _screenshots(out: Path, pages: list[PreviewPage], chromium: str) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("screenshots need Playwright: uv sync (it is a development dependency)") from None
    if not Path(chromium).exists():
        raise RuntimeError(f"{chromium} not found: install Chromium (make deps) or pass --chromium PATH")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT}, java_script_enabled=False
            )
            page = context.new_page()
            for preview in pages:
                if preview.error:
                    continue
                page.goto((out / preview.html_file).resolve().as_uri())
                png = preview.html_file.removesuffix(".html") + ".png"
                page.screenshot(path=str(out / png), full_page=True)
                preview.png_file = png
        finally:
            browser.close()
