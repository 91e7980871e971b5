"""Links in a rendered email: names for SES click tracking, UTM parameters, and the list of links.

A marketer names a link with `{ link=pricing }` (Markdown) or `link="pricing"` (HTML). SES does
not know that attribute; it reads `ses:tags="link:pricing"` and reports it back as
`linkTags: {"link": ["pricing"]}` in Click events, so the name is rewritten into that form here.
Links marked `ses:no-track` (the footer's unsubscribe and preference links) are left untracked and
get no UTM parameters.
With a visitor token (a sequence with page rules, and a sender website), tracked links to the
sender's website (its host or a subdomain of it) also get `rv=<token>`, which `examples/track.js`
reads on landing.

Only `<a>` start tags are rebuilt; everything else passes through exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape, unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

VISIT_PARAMETER = "rv"

LINK_ATTRIBUTE = "link"
SES_TAGS = "ses:tags"
SES_NO_TRACK = "ses:no-track"
LINK_TAG = "link"
LINK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SES_LINK = re.compile(r"(?:^|;)\s*link:([^;]*)")


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str
    name: str | None = None
    tracked: bool = True

    @property
    def problem(self) -> str | None:
        """Why this link would not work in an email, or None."""
        return link_problem(self.href) or (
            None
            if self.name is None or LINK_NAME.match(self.name)
            else f"link name '{self.name}' may use only lowercase letters, digits, '-' and '_'"
        )


def link_problem(href: str) -> str | None:
    if not href.strip():
        return "a link has no address"
    if href.startswith(("mailto:", "tel:")):
        return None if len(href) > len("mailto:") and not any(c.isspace() for c in href) else f"'{href}' is broken"
    if any(c.isspace() for c in href):
        return f"'{href}' contains spaces; encode them as %20"
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https"):
        return f"'{href}' is not a full web address; write it with https://"
    host = parts.hostname
    if not host or ("." not in host and host != "localhost"):
        return f"'{href}' has no valid host name"
    return None


class _LinkRewriter(HTMLParser):
    def __init__(
        self, utm: Mapping[str, str] | None, untouched: tuple[str, ...], visit: tuple[str, str] | None = None
    ) -> None:
        super().__init__(convert_charrefs=False)
        self.utm = utm
        self.visit = visit  # (the website's host, the visitor token)
        self.untouched = untouched
        self.out: list[str] = []
        self.links: list[Link] = []
        self.open: list[tuple[str, str | None, bool, list[str]]] = []  # href, name, tracked, text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            self.out.append(self.get_starttag_text() or "")
            return
        self.out.append(self._anchor(attrs, self.get_starttag_text() or "", closed=False))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            self.out.append(self.get_starttag_text() or "")
            return
        self.out.append(self._anchor(attrs, self.get_starttag_text() or "", closed=True))

    def _anchor(self, attrs: list[tuple[str, str | None]], raw: str, closed: bool) -> str:
        names = [name for name, _ in attrs]
        if "href" not in names:
            return raw
        href = next(value or "" for name, value in attrs if name == "href")
        tracked = SES_NO_TRACK not in names
        link_name = next((value for name, value in attrs if name == LINK_ATTRIBUTE), None)
        tags = next((value for name, value in attrs if name == SES_TAGS), None)
        if link_name is None and tags:
            found = _SES_LINK.search(tags)
            link_name = found.group(1).strip() if found else None
        rebuilt: list[tuple[str, str | None]] = []
        for name, value in attrs:
            if name == LINK_ATTRIBUTE:
                continue
            if name == "href":
                value = self._with_visit(self._with_utm(href)) if tracked else href
            if name == SES_TAGS and link_name and not _SES_LINK.search(value or ""):
                value = f"{value};{LINK_TAG}:{link_name}" if value else f"{LINK_TAG}:{link_name}"
            rebuilt.append((name, value))
        if link_name and SES_TAGS not in names:
            rebuilt.append((SES_TAGS, f"{LINK_TAG}:{link_name}"))
        final_href = next(value or "" for name, value in rebuilt if name == "href")
        if not closed:
            self.open.append((final_href, link_name, tracked, []))
        else:
            self.links.append(Link(final_href, "", link_name, tracked))
        parts = [name if value is None else f'{name}="{escape(value, quote=True)}"' for name, value in rebuilt]
        return f"<a {' '.join(parts)}{' /' if closed else ''}>"

    def _with_utm(self, href: str) -> str:
        if not self.utm or not href.startswith(("http://", "https://")) or href.startswith(self.untouched):
            return href
        return _add_missing(href, self.utm)

    def _with_visit(self, href: str) -> str:
        if self.visit is None or not href.startswith(("http://", "https://")) or href.startswith(self.untouched):
            return href
        website, token = self.visit
        host = (urlsplit(href).hostname or "").lower()
        if host != website and not host.endswith(f".{website}"):
            return href
        return _add_missing(href, {VISIT_PARAMETER: token})

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")
        if tag == "a" and self.open:
            href, name, tracked, text = self.open.pop()
            self.links.append(Link(href, re.sub(r"\s+", " ", "".join(text)).strip(), name, tracked))

    def handle_data(self, data: str) -> None:
        self.out.append(data)
        for _, _, _, text in self.open:
            text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")
        for _, _, _, text in self.open:
            text.append(unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")
        for _, _, _, text in self.open:
            text.append(unescape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")


def _add_missing(href: str, params: Mapping[str, str]) -> str:
    """`href` with each of `params` its query lacks (a parameter already there is kept as written)."""
    base, hash_mark, fragment = href.partition("#")
    query = urlsplit(base).query
    present = {key for key, _ in parse_qsl(query, keep_blank_values=True)}
    missing = {key: value for key, value in params.items() if key not in present}
    if not missing:
        return href
    joiner = "&" if query else ("" if base.endswith("?") else "?")
    return f"{base}{joiner}{urlencode(missing)}{hash_mark}{fragment}"


def website_host(website: str) -> str | None:
    """The host of the sender's website (`https://www.acme.example` -> `acme.example`), or None."""
    host = (urlsplit(website.strip()).hostname or "").lower() if website else ""
    host = host.removeprefix("www.")
    return host if "." in host or host == "localhost" else None


def rewrite_links(
    html: str,
    utm: Mapping[str, str] | None = None,
    untouched: tuple[str, ...] = (),
    visit: tuple[str, str] | None = None,
) -> tuple[str, list[Link]]:
    """Name links for SES (`link=` → `ses:tags="link:..."`), add the UTM parameters a link lacks
    (not to untracked links, nor to addresses starting with one of `untouched`), and list them.
    `visit` is (the website's host, a visitor token): tracked links to that website get `rv=token`."""
    parser = _LinkRewriter(utm, untouched, visit)
    parser.feed(html)
    parser.close()
    while parser.open:
        href, name, tracked, text = parser.open.pop()
        parser.links.append(Link(href, "".join(text).strip(), name, tracked))
    return "".join(parser.out), parser.links
