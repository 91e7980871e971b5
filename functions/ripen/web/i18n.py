"""The pages in the visitor's language: a translation table per locale (`translations/<locale>.json`,
English text -> translated text), looked up down the locale's fallback chain; English otherwise.

Text with values uses named placeholders (`"Unsubscribe from %(sender)s emails?"`), so a
translation may put them where its grammar wants them.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from ripen.core.locales import fallback_chain, normalize_locale

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@cache
def _table(locale: str) -> dict[str, str]:
    if normalize_locale(locale) != locale:  # never a path from outside: only a normalized tag
        return {}
    found = resources.files("ripen.web") / "translations" / f"{locale}.json"
    if not found.is_file():
        return {}
    table: dict[str, str] = json.loads(found.read_text(encoding="utf-8"))
    return table


def languages(locale: str | None) -> list[str]:
    """The chain of locales that have a translation table, most specific first."""
    return [each for each in fallback_chain(locale) if _table(each)]


class Translator:
    """`_("text %(name)s", name=value)`: the text in `locale` (or English), with its values filled in."""

    def __init__(self, locale: str | None) -> None:
        found = languages(locale)
        self.tables = [_table(each) for each in found]
        self.lang = found[0] if found else "en"  # the page's `lang`: the locale that translated it

    def __call__(self, text: str, **values: Any) -> str:
        for table in self.tables:
            if text in table:
                text = table[text]
                break
        return text % values if values else text


def translator(locale: str | None) -> Translator:
    return Translator(locale)


def long_date(at: datetime, translate: Translator) -> str:
    """`March 9, 2026` in English, `9. März 2026` in German: the format is itself translated."""
    return translate("%(month)s %(day)d, %(year)d", month=translate(MONTHS[at.month - 1]), day=at.day, year=at.year)
