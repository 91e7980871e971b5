"""Where email sources live and which named links they contain.

An email is `templates/<sequence>/<name>.md` or `.html`; shared emails (e.g. the confirmation
email) may live in `templates/_shared/`. A link gets a name with `{ link=pricing }` after a
Markdown link or `link="pricing"` on an HTML `<a>`; the name comes back in SES click events.
"""

from __future__ import annotations

import re

EMAIL_SUFFIXES = (".md", ".html")


SHARED_DIR = "_shared"


LINK_NAME = re.compile(r"""\blink\s*=\s*["']?([a-z0-9][a-z0-9_-]*)["']?""", re.IGNORECASE)


SES_LINK_TAG = re.compile(r"""ses:tags\s*=\s*["'][^"']*\blink:([a-z0-9][a-z0-9_-]*)""", re.IGNORECASE)


def link_names(source: str) -> set[str]:
    """Every link name an email source declares."""
    return {m.lower() for m in LINK_NAME.findall(source)} | {m.lower() for m in SES_LINK_TAG.findall(source)}


def split_front_matter(source: str) -> tuple[dict[str, object], str]:
    """An email's YAML front matter (subject, preheader, ...) and its body."""
    import yaml

    if not source.startswith("---"):
        return {}, source
    parts = source.split("\n---", 1)
    if len(parts) != 2:
        return {}, source
    meta = yaml.safe_load(parts[0][3:]) or {}
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return (meta if isinstance(meta, dict) else {}), body
