"""`ripen lint` for emails and layouts: everything a marketer can get wrong in an email, reported
as `file:line: message (fix: ...)` before it can reach a lead.

For every layout: its HTML and text versions render and carry the unsubscribe link, the
preferences link and the postal address. For every email, in every role a sequence uses it
(nurture email or double opt-in confirmation), for a sample lead with every optional field and
one with none: the front matter is valid, the subject and body render (a missing value or
forbidden construct is an error at its line), the subject fits, there is a preheader, every link is
a full web address with a valid name, the footer is there, and the message gets its
List-Unsubscribe and List-Unsubscribe-Post headers.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ripen.adapters.templates import find_email, load_catalog
from ripen.core.emails import EMAIL_SUFFIXES, SHARED_DIR
from ripen.core.links import Links
from ripen.core.locales import fallback_chain, split_locale
from ripen.core.records import MessageClaim, message_key
from ripen.core.sequence import EmailStep, Sequence
from ripen.core.validator import Catalog, Problem
from ripen.mail.compose import LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST, ONE_CLICK, Composer
from ripen.mail.render import LAYOUTS_DIR, EmailContext, Renderer, RenderError, SenderDetails, lead_view
from ripen_dev.mail.samples import SAMPLE_BASE_URL, SAMPLE_KEY, SAMPLE_LEADS, SAMPLE_SENDER, SAMPLE_TIME

MAX_SUBJECT = 78  # longer subjects are cut off in most inboxes (and RFC 5322's recommended line)
MAX_HTML_BYTES = 102_000  # Gmail clips longer messages behind "[Message clipped]", footer included
Kind = Literal["nurture", "confirmation"]


@dataclass(frozen=True)
class EmailUse:
    """One way an email file is used: by which sequence (None when no sequence uses it) and how."""

    path: Path
    email: str
    sequence: Sequence | None
    kind: Kind


def email_uses(root: Path, catalog: Catalog) -> list[EmailUse]:
    """Every email file under `root`, with each role a sequence gives it (files no sequence uses
    are still checked, with the confirmation context, which has every variable)."""
    uses: list[EmailUse] = []
    seen: set[tuple[Path, str, str]] = set()
    for name in catalog.names():
        sequence = catalog.current(name)
        wanted: list[tuple[str, Kind]] = [
            (email, "nurture") for s in sequence.steps if isinstance(s, EmailStep) for email in s.emails
        ]
        if sequence.double_opt_in.enabled:
            wanted.append((sequence.double_opt_in.email, "confirmation"))
        for email, kind in wanted:
            path = find_email(root / name, email)
            if path is not None and (path, name, kind) not in seen:
                seen.add((path, name, kind))
                uses.append(EmailUse(path, email, sequence, kind))
    used = {use.path for use in uses}
    roles: dict[tuple[Path, str], list[EmailUse]] = {}
    for use in uses:
        roles.setdefault((use.path.parent, use.email), []).append(use)
    for folder in _email_folders(root):
        for path in sorted(folder.iterdir()):
            if path.suffix in EMAIL_SUFFIXES and path.is_file() and path not in used:
                name, locale = split_locale(path.stem)
                same = roles.get((folder, name), []) if locale else []
                if same:  # a translation: checked in every role of the email it translates
                    uses.extend(replace(use, path=path) for use in same)
                    continue
                owner = catalog.current(folder.name) if folder.name in catalog.versions else None
                uses.append(EmailUse(path, path.stem, owner, "confirmation"))
    return uses


def _email_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (not p.name.startswith("_") or p.name == SHARED_DIR))


def lint_locales(root: Path) -> list[Problem]:
    """A language that translates some emails of a folder must translate all of them: a German lead
    would otherwise get some emails in German and the others in the default language."""
    problems = []
    for folder in _email_folders(root):
        files: dict[str | None, dict[str, Path]] = {}
        for path in sorted(folder.iterdir()):
            if path.suffix in EMAIL_SUFFIXES and path.is_file():
                name, locale = split_locale(path.stem)
                files.setdefault(locale, {})[name] = path
        default = files.get(None, {})
        for locale in sorted(each for each in files if each is not None):
            chain = [files[each] for each in fallback_chain(locale) if each in files]
            first = next(iter(files[locale].values()))
            for name in sorted(default):
                if not any(name in found for found in chain):
                    problems.append(
                        Problem(
                            str(first.relative_to(root)),
                            1,
                            f"locale '{locale}' has no '{name}' email, which the default language has",
                            f"create {folder.name}/{name}.{locale}{default[name].suffix}, or leads in '{locale}' "
                            "get this one untranslated",
                        )
                    )
    return problems


def lint_emails(root: Path, catalog: Catalog | None = None, sender: SenderDetails = SAMPLE_SENDER) -> list[Problem]:
    catalog = catalog if catalog is not None else load_catalog(root)
    renderer = Renderer(root, own_url=SAMPLE_BASE_URL)
    links = Links(SAMPLE_BASE_URL, SAMPLE_KEY, timedelta(days=60))
    composer = Composer(renderer, links, sender, unsubscribe_mailto=None)
    problems, unusable = _lint_layouts(root, renderer, links, sender)
    broken = {Path(p.file).stem for p in problems}  # reported once, on the layout itself
    for use in email_uses(root, catalog):
        problems.extend(_lint_use(renderer, composer, use, sender, broken, unusable))
    problems.extend(lint_locales(root))
    unique: dict[tuple[str, int, str], Problem] = {}
    for problem in problems:
        unique.setdefault((problem.file, problem.line, problem.message), problem)
    return sorted(unique.values(), key=lambda p: (p.file, p.line, p.message))


def _context(links: Links, sender: SenderDetails, sequence_name: str, title: str, confirm: bool) -> EmailContext:
    lead = SAMPLE_LEADS["full"]
    return EmailContext(
        lead={"attributes": dict(lead.attributes)},
        sender=sender,
        sequence_name=sequence_name,
        sequence_title=title,
        unsubscribe_url=links.unsubscribe(lead.lead_id, sequence_name, SAMPLE_TIME),
        preferences_url=links.preferences(lead.lead_id, sequence_name, SAMPLE_TIME),
        confirm_url=links.confirm(lead.lead_id, sequence_name, SAMPLE_TIME, timedelta(days=7), run=1)
        if confirm
        else None,
    )


def _missing_footer(html: str, text: str, context: EmailContext, sender: SenderDetails) -> list[tuple[str, str]]:
    """What the compliance footer lacks in the rendered HTML or text: (version, message) pairs."""
    missing = []
    for what, needle in (
        ("the unsubscribe link ({{ unsubscribe_url }})", context.unsubscribe_url),
        ("the preferences link ({{ preferences_url }})", context.preferences_url),
        ("the postal address ({{ sender.postal_address }})", sender.postal_address),
    ):
        for version, content in (("HTML", html), ("text", text)):
            if needle not in content:
                missing.append((version, f"the {version} version lacks {what}"))
    return missing


def _lint_layouts(
    root: Path, renderer: Renderer, links: Links, sender: SenderDetails
) -> tuple[list[Problem], set[str]]:
    """Problems of every layout, and the layouts that cannot render at all (their emails wait)."""
    problems: list[Problem] = []
    unusable: set[str] = set()
    folder = root / LAYOUTS_DIR
    layouts = sorted(folder.glob("*.html")) if folder.is_dir() else []
    if not layouts:
        problem = Problem(
            f"{LAYOUTS_DIR}/default.html",
            1,
            "there is no email layout",
            "create templates/_layouts/default.html and default.txt (copy them from the ripen repository)",
        )
        return [problem], {"default"}
    context = _context(links, sender, "sample", "Sample sequence", confirm=False)
    for layout in layouts:
        name = f"{LAYOUTS_DIR}/{layout.name}"
        if not layout.with_suffix(".txt").is_file():
            problems.append(
                Problem(
                    name, 1, f"layout '{layout.stem}' has no text version", f"create {LAYOUTS_DIR}/{layout.stem}.txt"
                )
            )
            unusable.add(layout.stem)
            continue
        marker = "ripen-body-marker"
        try:
            html, text = renderer.render_layout(layout.stem, context, f"<p>{marker}</p>", marker)
        except RenderError as exc:
            problems.append(Problem(exc.file, exc.line, exc.message, exc.fix))
            unusable.add(layout.stem)
            continue
        for version, content in (("HTML", html), ("text", text)):
            if marker not in content:
                problems.append(
                    Problem(name, 1, f"the {version} layout never shows the email's body", "add {{ body }}")
                )
        for version, missing in _missing_footer(html, text, context, sender):
            partial = "footer.html" if version == "HTML" else "footer.txt"
            problems.append(
                Problem(
                    name if version == "HTML" else name.removesuffix(".html") + ".txt",
                    1,
                    f"layout '{layout.stem}': {missing}",
                    f'include the footer: {{% include "_partials/{partial}" %}}',
                )
            )
    return problems, unusable


def _lint_use(
    renderer: Renderer,
    composer: Composer,
    use: EmailUse,
    sender: SenderDetails,
    broken_layouts: set[str],
    unusable_layouts: set[str],
) -> list[Problem]:
    try:
        email = renderer.source(use.path)
    except RenderError as exc:
        return [Problem(exc.file, exc.line, exc.message, exc.fix)]
    if email.meta.layout in unusable_layouts:
        return []  # nothing renders until its layout does; the layout's problem says what to fix
    file = renderer.relative(use.path)
    problems: list[Problem] = []
    if not email.meta.preheader.strip():
        line = email.line_of("preheader") if "preheader" in email.key_lines else email.line_of("subject")
        problems.append(Problem(file, line, "the email has no preheader", "add 'preheader: ...' (the preview line)"))
    sequence = use.sequence
    name = sequence.name if sequence else use.path.parent.name
    title = sequence.display_title if sequence else "Sample sequence"
    locale = split_locale(use.path.stem)[1]  # a translation is checked for a lead in its language
    for sample, sample_lead in SAMPLE_LEADS.items():
        lead = replace(sample_lead, locale=locale) if locale else sample_lead
        claim = MessageClaim(
            key=message_key(lead.lead_id, name, 1, use.email),
            lead_id=lead.lead_id,
            sequence=name,
            version=sequence.version if sequence else 1,
            run=1,
            step=use.email,
            email=use.email,
            kind=use.kind,
            created_at=SAMPLE_TIME,
        )
        try:
            if sequence is not None:
                context, rendered = composer.render(claim, lead, sequence, SAMPLE_TIME)
                outgoing = composer.compose(claim, lead, sequence, SAMPLE_TIME)
            else:
                context = replace(_context(composer.links, sender, name, title, confirm=True), lead=lead_view(lead))
                rendered = renderer.render(use.path, context, email_name=use.email)
                outgoing = None
        except RenderError as exc:
            fix = exc.fix
            if use.kind == "nurture" and "confirm_url" in exc.message:
                fix = "confirm_url exists only in the double opt-in confirmation email"
            problems.append(Problem(exc.file, exc.line, f"{exc.message} (for a lead with {_describe(sample)})", fix))
            continue
        if len(rendered.subject) > MAX_SUBJECT:
            problems.append(
                Problem(
                    file,
                    email.line_of("subject"),
                    f"the subject is {len(rendered.subject)} characters for a lead with {_describe(sample)}",
                    f"keep it under {MAX_SUBJECT} so inboxes show all of it",
                )
            )
        size = len(rendered.html.encode("utf-8"))
        if size > MAX_HTML_BYTES:
            problems.append(
                Problem(
                    file,
                    email.body_line,
                    f"the HTML is {size // 1000} KB; Gmail clips emails over 102 KB, hiding the unsubscribe footer",
                    "shorten the email or move long content to a web page",
                )
            )
        for link in rendered.links:
            trouble = link.problem
            if trouble:
                line = _line_of_link(email.body, link.href, link.name, link.text, email.body_line)
                problems.append(Problem(file, line, trouble, None))
        if email.meta.layout not in broken_layouts:
            for _, missing in _missing_footer(rendered.html, rendered.text, context, sender):
                problems.append(
                    Problem(
                        file,
                        email.line_of("layout"),
                        f"as rendered, {missing}",
                        "use a layout that includes _partials/footer.html and footer.txt",
                    )
                )
        if outgoing is not None:
            header = outgoing.headers.get(LIST_UNSUBSCRIBE, "")
            if not header.startswith("<https://") or outgoing.headers.get(LIST_UNSUBSCRIBE_POST) != ONE_CLICK:
                problems.append(Problem(file, 1, "the message lacks List-Unsubscribe / List-Unsubscribe-Post headers"))
    return problems


def _line_of_link(body: str, href: str, name: str | None, text: str, fallback: int) -> int:
    """Where a link is written in the email: by its name, its address or its text."""
    needles = [f"link={name}", f'link="{name}"'] if name else []
    needles += [href.split("?")[0], text]
    lines = body.splitlines()
    for needle in needles:
        for number, line in enumerate(lines, start=1):
            if needle and needle in line:
                return number
    return fallback


def _describe(sample: str) -> str:
    return "every optional field" if sample == "full" else "no optional fields"


# -- Gmail and Yahoo bulk-sender rules (issue 18) ------------------------------------------------------
# Since February 2024 Gmail and Yahoo require of anyone sending them bulk mail: one-click unsubscribe
# (RFC 8058: List-Unsubscribe with an https link and List-Unsubscribe-Post), a From domain aligned
# with the domain that authenticates the mail (SPF/DKIM, DMARC), and (CAN-SPAM, their guidelines) a
# postal address. The first and the last are checked on every email above (the headers, the footer);
# the alignment is checked here against the SES identity. What only hurts placement is a warning.

MAX_LINKS = 15  # more links than this in one email looks like a newsletter dump or spam to filters
MIN_WORDS = 20  # an email with images and fewer words of its own is "image-only" to a spam filter
SHORTENERS = frozenset(
    {
        "bit.ly",
        "bitly.com",
        "tinyurl.com",
        "t.co",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "shorturl.at",
        "rb.gy",
        "tiny.cc",
        "bl.ink",
        "lnkd.in",
        "t.ly",
        "s.id",
    }
)
_TAG = re.compile(r"<[^>]+>")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_WORD = re.compile(r"[^\W\d_]{2,}")
_IDENTITY = re.compile(r'SesIdentity=\\?"?([^"\\\s]+)')


@dataclass(frozen=True)
class BulkSenderFindings:
    errors: list[Problem]  # `ripen lint` fails
    warnings: list[Problem]  # said, and `ripen lint` still passes


def identity_from_samconfig(path: Path = Path("samconfig.toml")) -> str | None:
    """The `SesIdentity` the default deploy configuration gives (None when there is none)."""
    if not path.is_file():
        return None
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        return None
    overrides = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    found = _IDENTITY.search(overrides if isinstance(overrides, str) else " ".join(overrides))
    return found.group(1) if found else None


def aligned(from_address: str, identity: str) -> bool:
    """Whether SES may send this From address for `identity` under ripen's sending policy: an address
    at the identity's domain (a domain identity), or the identity itself (an address identity)."""
    _, address = parseaddr(from_address)
    address = address.lower()
    identity = identity.lower()
    if "@" in identity:
        return address == identity
    return address.rpartition("@")[2] == identity


def lint_bulk_sender(
    root: Path,
    catalog: Catalog | None = None,
    identity: str | None = None,
    sender: SenderDetails = SAMPLE_SENDER,
    max_links: int = MAX_LINKS,
) -> BulkSenderFindings:
    """The bulk-sender rules: From alignment with `identity` (skipped when None) as errors; image-only
    emails, link shorteners, a text version with nothing in it and more than `max_links` links as warnings."""
    catalog = catalog if catalog is not None else load_catalog(root)
    errors: list[Problem] = []
    warnings: list[Problem] = []
    if identity:
        for name in catalog.names():
            sequence = catalog.current(name)
            file = f"{name}/sequence.yaml"
            if not aligned(sequence.from_, identity):
                errors.append(_misaligned(file, _line_with(root / file, "from:"), sequence.from_, identity))
    renderer = Renderer(root, own_url=SAMPLE_BASE_URL)
    links = Links(SAMPLE_BASE_URL, SAMPLE_KEY, timedelta(days=60))
    composer = Composer(renderer, links, sender, unsubscribe_mailto=None)
    for use in email_uses(root, catalog):
        if use.sequence is None:
            continue
        try:
            source = renderer.source(use.path)
            claim = _sample_claim(use, use.sequence)
            context, rendered = composer.render(claim, SAMPLE_LEADS["full"], use.sequence, SAMPLE_TIME)
        except RenderError:
            continue  # `lint_emails` reports it
        file = renderer.relative(use.path)
        if identity and source.meta.from_ and not aligned(source.meta.from_, identity):
            errors.append(_misaligned(file, source.line_of("from"), source.meta.from_, identity))
        warnings.extend(_placement(file, source, rendered, context, sender, max_links))
    unique = {(p.file, p.line, p.message): p for p in errors}
    seen = {(p.file, p.line, p.message): p for p in warnings}
    return BulkSenderFindings(
        sorted(unique.values(), key=lambda p: (p.file, p.line)), sorted(seen.values(), key=lambda p: (p.file, p.line))
    )


def _misaligned(file: str, line: int, from_address: str, identity: str) -> Problem:
    return Problem(
        file,
        line,
        f"From '{parseaddr(from_address)[1]}' is not aligned with the sending identity {identity}: SES (and ripen's "
        "policy) will not send it, and Gmail and Yahoo reject bulk mail whose From domain fails DMARC alignment",
        f"send from an address at {identity}" if "@" not in identity else f"send from {identity}",
    )


def _sample_claim(use: EmailUse, sequence: Sequence) -> MessageClaim:
    lead = SAMPLE_LEADS["full"]
    return MessageClaim(
        key=message_key(lead.lead_id, sequence.name, 1, use.email),
        lead_id=lead.lead_id,
        sequence=sequence.name,
        version=sequence.version,
        run=1,
        step=use.email,
        email=use.email,
        kind=use.kind,
        created_at=SAMPLE_TIME,
    )


def _placement(
    file: str, source: Any, rendered: Any, context: EmailContext, sender: SenderDetails, max_links: int
) -> list[Problem]:
    found: list[Problem] = []
    body = source.body
    images = len(re.findall(r"<img\b", body, re.IGNORECASE)) + len(_MD_IMAGE.findall(body))
    words = _WORD.findall(_TAG.sub(" ", _MD_LINK_TARGET.sub("]", _MD_IMAGE.sub(" ", _JINJA.sub(" ", body)))))
    if images and len(words) < MIN_WORDS:
        found.append(
            Problem(
                file,
                source.body_line,
                f"warning: the email is mostly images ({images} image(s), {len(words)} words): spam filters "
                "distrust image-only mail, and many readers block images",
                f"say it in at least {MIN_WORDS} words of text",
            )
        )
    for link in rendered.links:
        host = (urlsplit(link.href).hostname or "").lower()
        if host in SHORTENERS:
            line = _line_of_link(body, link.href, link.name, link.text, source.body_line)
            found.append(
                Problem(
                    file,
                    line,
                    f"warning: {host} is a link shortener: shortened links are a spam signal (and hide where "
                    "the link goes)",
                    "link to the page itself; ripen tracks clicks by the link's name",
                )
            )
    footer = (context.unsubscribe_url, context.preferences_url, sender.postal_address, sender.company)
    own = [line for line in rendered.text.splitlines() if not any(part and part in line for part in footer)]
    if len(_WORD.findall(" ".join(own))) < 10:
        found.append(
            Problem(
                file,
                source.body_line,
                "warning: the text version has almost nothing in it: mail without a real text part looks like spam",
                "write the email's message in text, not only in images or HTML",
            )
        )
    own_links = [link for link in rendered.links if _written_in(body, link.href)]  # not the layout's
    if len(own_links) > max_links:
        found.append(
            Problem(
                file,
                source.body_line,
                f"warning: {len(own_links)} links (more than {max_links}) in one email hurt its placement",
                "keep to the few links that matter",
            )
        )
    return found


def _written_in(body: str, href: str) -> bool:
    """Whether the email itself links to `href` (without the tracking parameters ripen adds)."""
    return re.search(re.escape(href.split("?")[0]) + r"[)\"'\s>?#]", body) is not None


def _line_with(path: Path, prefix: str) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    return next((n for n, line in enumerate(lines, start=1) if line.lstrip().startswith(prefix)), 1)
