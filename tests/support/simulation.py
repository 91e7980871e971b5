"""Helpers for simulation tests: small plans, models written on the fly, a one-off templates folder."""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from ripen.adapters.templates import load_catalog
from ripen.core.sequence import Sequence
from ripen_dev.simulation.model import EngagementModel, email_links, load_model
from ripen_dev.simulation.simulate import Plan
from tests.conftest import TEMPLATES

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def model_from(tmp_path: Path, text: str, name: str = "model.yaml") -> EngagementModel:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_model(path)


def plan_for(
    sequence: Sequence,
    model: EngagementModel | None = None,
    leads: int = 300,
    days: int = 40,
    seed: int = 7,
    templates: Path = TEMPLATES,
) -> Plan:
    return Plan(sequence, model or EngagementModel(), email_links(templates, sequence), leads, days, seed, START)


def templates_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def email_file(folder: Path, name: str, links: tuple[str, ...] = ()) -> None:
    body = "\n\n".join(f"[{link}](https://acme.example/{link}){{ link={link} }}" for link in links)
    folder.joinpath(f"{name}.md").write_text(
        f'---\nsubject: "{name}"\npreheader: "{name}"\n---\nHello.\n\n{body}\n', encoding="utf-8"
    )


def one_off_sequence(tmp_path: Path, name: str, yaml_text: str, emails: dict[str, tuple[str, ...]]) -> Sequence:
    """A templates folder holding just this sequence (and its emails), loaded as the validator loads it."""
    root = tmp_path / "one-off"
    folder = root / name
    folder.mkdir(parents=True)
    folder.joinpath("sequence.yaml").write_text(textwrap.dedent(yaml_text), encoding="utf-8")
    for email, links in emails.items():
        email_file(folder, email, links)
    catalog = load_catalog(root)
    assert not catalog.problems, catalog.problems
    return catalog.current(name)
