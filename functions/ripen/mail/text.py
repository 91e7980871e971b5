"""The plain-text alternative of an HTML email body: paragraphs, lists, quotes and links as text.

Links keep their address after the text ("See plans (https://...)"), so a text-only reader can
still follow them; hidden elements (`display:none`) and `<style>`/`<head>` are left out.
"""

from __future__ import annotations

import re
import textwrap
from html.parser import HTMLParser

WIDTH = 76
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "table", "tr", "pre", "hr"}
_SKIPPED = {"style", "script", "head", "title"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.line: list[str] = []
        self.skip_depth = 0
        self.stack: list[str] = []  # open elements, to match hidden ones
        self.hidden_at: int | None = None
        self.lists: list[list[int]] = []  # per open list: [counter] (-1 for bullets)
        self.quote = 0
        self.links: list[str | None] = []
        self.link_text: list[list[str]] = []
        self.pre = 0

    # -- structure ------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _VOID:
            self.stack.append(tag)
        if self.hidden_at is not None or self.skip_depth:
            if tag in _SKIPPED:
                self.skip_depth += 1
            return
        if tag in _SKIPPED:
            self.skip_depth += 1
            return
        if tag not in _VOID and (_HIDDEN.search(attributes.get("style") or "") or "hidden" in attributes):
            self.hidden_at = len(self.stack)
            return
        if tag == "br":
            self.line.append("\x02")  # a line break inside a block
        elif tag in _BLOCKS:
            self.flush()
            if tag == "hr":
                self.blocks.append("-" * 20)
            elif tag in ("ul", "ol"):
                self.lists.append([0 if tag == "ol" else -1])
            elif tag == "li":
                self.start_item()
            elif tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
        elif tag == "a":
            self.links.append(attributes.get("href"))
            self.link_text.append([])
        elif tag == "img" and attributes.get("alt"):
            self.data(attributes["alt"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack:
                closed = self.stack.pop()
                self.close_element(closed)
                if closed == tag:
                    break

    def close_element(self, tag: str) -> None:
        depth = len(self.stack) + 1
        if self.hidden_at is not None:
            if depth == self.hidden_at:
                self.hidden_at = None
            return
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            text = "".join(self.link_text.pop()).strip()
            self.data(_link_text(text, href))
        elif tag in _BLOCKS:
            self.flush()
            if tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            elif tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth or self.hidden_at is not None:
            return
        self.data(data)

    def data(self, text: str) -> None:
        if self.link_text:
            self.link_text[-1].append(text)  # inside a link (or a link inside a link): part of its text
            return
        self.line.append(text)

    # -- output ---------------------------------------------------------------------------------

    def start_item(self) -> None:
        if not self.lists:
            self.lists.append([-1])
        counter = self.lists[-1]
        if counter[0] >= 0:
            counter[0] += 1
            self.line.append(f"\x00{counter[0]}. ")
        else:
            self.line.append("\x00- ")

    def flush(self) -> None:
        text = "".join(self.line)
        self.line = []
        marker = ""
        if text.startswith("\x00"):
            marker, _, text = text[1:].partition(" ")
            marker += " "
        if self.pre:
            pieces = text.replace("\x02", "\n").splitlines()
        else:
            pieces = [_SPACES.sub(" ", piece).strip() for piece in text.split("\x02")]
            while pieces and not pieces[-1]:
                pieces.pop()
        if not any(pieces) and not marker:
            return
        indent = "  " * max(0, len(self.lists) - 1)
        prefix = "> " * self.quote
        width = max(20, WIDTH - len(prefix) - len(indent) - len(marker))
        lines: list[str] = []
        for piece in pieces or [""]:
            if self.pre:
                lines.append(piece)
            else:
                lines.extend(textwrap.wrap(piece, width=width, break_long_words=False, break_on_hyphens=False) or [""])
        first = f"{prefix}{indent}{marker}{lines[0]}".rstrip()
        rest = [f"{prefix}{indent}{' ' * len(marker)}{line}".rstrip() for line in lines[1:]]
        self.blocks.append("\n".join([first, *rest]))

    def result(self) -> str:
        while self.stack:
            self.close_element(self.stack.pop())
        self.flush()
        out: list[str] = []
        for block in self.blocks:
            if out and not (_is_item(block) and _is_item(out[-1])):
                out.append(">" if block.startswith("> ") and out[-1].startswith("> ") else "")
            out.append(block)
        return "\n".join(out).strip() + "\n"


def _is_item(block: str) -> bool:
    stripped = block.lstrip("> ").lstrip()
    return stripped.startswith("- ") or bool(re.match(r"^\d+\. ", stripped))


def _link_text(text: str, href: str | None) -> str:
    if not href or href.startswith("#"):
        return text
    target = href.removeprefix("mailto:")
    if not text or text in (href, target):
        return target
    return f"{text} ({target})"


def html_to_text(html: str) -> str:
    """Readable plain text for the text/plain part of an email."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.result()
