"""The operator commands' progress bar: on a terminal only, and only once the work has run a second."""

from __future__ import annotations

import io

from ripen_dev.operate import progress as progress_module
from ripen_dev.operate.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_in_a_pipe_or_a_log():
    out = io.StringIO()
    with Progress("importing", 10, out) as bar:
        bar.started -= 5  # as if it had run for five seconds
        bar.advance(3)
    assert out.getvalue() == ""


def test_on_a_terminal_the_bar_shows_after_a_second_and_is_wiped_at_the_end(monkeypatch):
    out = Terminal()
    bar = Progress("importing", 10, out)
    bar.advance()
    assert out.getvalue() == ""  # quicker than a second: nothing
    bar.started -= progress_module.SHOW_AFTER + 1
    bar.advance(4)
    assert "importing [###############---------------] 5/10" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\r")


def test_work_of_unknown_size_shows_a_count():
    assert Progress("exporting", None, io.StringIO()).line(2.0).startswith("exporting: 0 ")
