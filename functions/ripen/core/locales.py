"""A lead's language: read from the form or the browser, and the chain of files it falls back through.

Locales are BCP 47 tags reduced to what email files are named with: a language and an optional
region, lowercase, joined by a hyphen (`de`, `pt-br`). `welcome.pt-br.md` serves Brazilian leads,
`welcome.pt.md` every other Portuguese one, `welcome.md` everyone else.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z]{4}))?(?:[-_]([a-z]{2}|\d{3}))?$")
MAX_ACCEPT_LANGUAGE = 512  # a header longer than this is not a browser's: ignored


def normalize_locale(value: str | None) -> str | None:
    """`pt_BR`, `pt-BR` -> `pt-br`; `de-Latn-DE` -> `de-de`; None for anything that is not a tag."""
    if not value:
        return None
    found = _TAG.match(value.strip().lower())
    if not found:
        return None
    language, _script, region = found.groups()
    return f"{language}-{region}" if region else language


def fallback_chain(locale: str | None) -> tuple[str, ...]:
    """The locales to try, most specific first; the default (no locale) is always tried last."""
    if not locale:
        return ()
    language = locale.split("-", 1)[0]
    return (locale,) if locale == language else (locale, language)


def from_accept_language(header: str | None) -> str | None:
    """The browser's preferred locale from `Accept-Language` (highest q first, `*` ignored)."""
    if not header or len(header) > MAX_ACCEPT_LANGUAGE:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        locale = normalize_locale(tag)
        if locale and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else None


def split_locale(stem: str) -> tuple[str, str | None]:
    """`welcome.de` -> (`welcome`, `de`); `welcome` -> (`welcome`, None): the parts of a file name."""
    name, dot, suffix = stem.rpartition(".")
    if dot and name and normalize_locale(suffix) == suffix:
        return name, suffix
    return stem, None
