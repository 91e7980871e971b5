"""A small `demo` sequence validated from YAML text, with a few emails: for tests of sequence features."""

from __future__ import annotations

import textwrap

from ripen.core.sequence import Sequence
from ripen.core.validator import LoadResult, validate_text

HEADER = 'name: demo\nfrom: "Demo <hi@x.example>"\ndouble_opt_in: false\n'
EMAILS = {
    "welcome": "Hi!",
    "welcome-short": "Hi.",
    "tips": "Tips.",
    "confirm": "Please confirm: {{ confirm_url }}",
}


def _check(body: str) -> LoadResult:
    return validate_text(HEADER + textwrap.dedent(body), EMAILS.get, "demo/sequence.yaml", expect_name="demo")


def load(body: str) -> Sequence:
    """The steps and settings in `body`, after the demo header; fails the test on any problem."""
    result = _check(body)
    assert result.sequence is not None, [str(p) for p in result.problems]
    return result.sequence


def problems(body: str) -> list[str]:
    """Each problem the validator reports for `body`, as `file:line: message (fix: ...)`."""
    return [str(p) for p in _check(body).problems]
