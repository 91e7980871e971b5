"""An email file as a marketer writes it: YAML front matter, then a Markdown or HTML body.

```
---
subject: "Your trial is ready"          # required; Jinja2 allowed, e.g. {{ lead.first_name | default("Hi") }}
preheader: "Three steps to your first numbers"   # the preview line after the subject
from: "Maya <maya@acme.example>"        # optional: overrides the sequence's `from`
reply_to: "Success <success@acme.example>"       # optional: overrides the sequence's `reply_to`
layout: default                         # optional: templates/_layouts/<layout>.html and .txt
utm: true                               # optional: false leaves links without UTM parameters
---
Hi {{ lead.first_name | default("there") }}, ...
```
A hand-written text version may sit next to it as `<name>.txt`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ripen.core.emails import split_front_matter
from ripen.core.sequence import Sender, Slug

_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    subject: str = Field(min_length=1)
    preheader: str = ""
    from_: Sender | None = Field(default=None, alias="from")
    reply_to: Sender | None = None
    layout: Slug = "default"
    utm: bool = True


FRONT_MATTER_KEYS = tuple(info.alias or name for name, info in FrontMatter.model_fields.items())


class SourceError(ValueError):
    """A problem in an email file, at a line of that file."""

    def __init__(self, line: int, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class EmailSource:
    path: Path
    kind: Literal["markdown", "html"]
    meta: FrontMatter
    body: str  # the file with its front matter replaced by blank lines: Jinja's line numbers are the file's
    body_line: int  # the first line of the body
    key_lines: dict[str, int] = field(default_factory=dict)
    raw_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def text_path(self) -> Path | None:
        """A hand-written text version next to the email, when there is one."""
        candidate = self.path.with_suffix(".txt")
        return candidate if candidate.is_file() else None

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, 1)

    def line_containing(self, needle: str) -> int:
        """The first line of the file containing `needle` (the body's first line if none does)."""
        for number, line in enumerate(self.body.splitlines(), start=1):
            if needle and needle in line:
                return number
        return self.body_line


def blank_front_matter(source: str) -> tuple[str, int]:
    """The source with its front matter turned into blank lines, and the body's first line."""
    if not source.startswith("---"):
        return source, 1
    _, body = _split(source)
    prefix = source[: len(source) - len(body)]
    lines = prefix.count("\n")
    return "\n" * lines + body, lines + 1


def _split(source: str) -> tuple[dict[str, object], str]:
    try:
        return split_front_matter(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 1) if mark is not None else 1
        raise SourceError(line, f"the front matter is not valid YAML: {getattr(exc, 'problem', exc)}") from None


def parse_email(path: Path) -> EmailSource:
    """Read and check one email file; SourceError says what is wrong and where."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(1, f"cannot read the email: {exc}") from None
    if not source.startswith("---"):
        raise SourceError(1, "the email has no front matter", "start the file with '---', 'subject: ...', '---'")
    meta, body = _split(source)
    if body == source:
        raise SourceError(1, "the front matter is not closed", "add a line '---' after the subject and preheader")
    blanked, body_line = blank_front_matter(source)
    key_lines: dict[str, int] = {}
    for number, line in enumerate(source.splitlines()[: body_line - 1], start=1):
        match = _KEY_LINE.match(line)
        if match:
            key_lines.setdefault(match.group(1), number)
    try:
        front = FrontMatter.model_validate(meta)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "subject"
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, FRONT_MATTER_KEYS, n=1)
            raise SourceError(
                key_lines.get(key, 1),
                f"unknown front matter key '{key}'",
                f"did you mean '{close[0]}'?" if close else f"use only: {', '.join(FRONT_MATTER_KEYS)}",
            ) from None
        if error["type"] == "missing":
            raise SourceError(
                1, f"the front matter has no '{key}'", f"add '{key}: ...' between the '---' lines"
            ) from None
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SourceError(key_lines.get(key, 1), f"{key}: {message}") from None
    kind: Literal["markdown", "html"] = "html" if path.suffix == ".html" else "markdown"
    return EmailSource(path, kind, front, blanked, body_line, key_lines, dict(meta))
