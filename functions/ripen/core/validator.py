"""The one sequence validator: YAML in, a `Sequence` or a list of problems with file, line and fix out.

The engine, the CLI (`ripen lint`) and CI all load sequences through `load_sequence` / `load_catalog`.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ripen.core import sequence as model
from ripen.core.emails import link_names
from ripen.core.sequence import (
    STEP_KINDS,
    STEP_MODELS,
    BranchStep,
    Condition,
    EmailStep,
    ExitStep,
    GotoStep,
    Sequence,
    SequenceSettings,
    Step,
    WaitForStep,
    WaitStep,
    default_step_id,
)
from ripen.core.yamlsource import YamlDocument, YamlSourceError, load_yaml

EmailLookup = Callable[[str], str | None]


SEQUENCE_FILE = "sequence.yaml"


VERSIONS_DIR = "versions"


END = "<end>"


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


@dataclass
class LoadResult:
    sequence: Sequence | None
    problems: list[Problem] = field(default_factory=list)


class SequenceError(ValueError):
    """Raised when code asks for a sequence that does not validate."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _known_keys() -> set[str]:
    keys: set[str] = set()
    models: list[type[BaseModel]] = [
        SequenceSettings,
        Condition,
        model.WaitFor,
        model.Signal,
        model.EventTrigger,
        model.BranchCase,
        model.DoubleOptIn,
        model.SendWindow,
        model.Goal,
        model.SalesReady,
        model.Scoring,
        model.FrequencyCap,
        model.Reentry,
        model.StageRule,
        model.Migration,
        *STEP_MODELS.values(),
    ]
    for m in models:
        for name, info in m.model_fields.items():
            keys.add(info.alias or name)
    return keys


def _suggest(word: str, choices: set[str] | list[str] | tuple[str, ...]) -> str | None:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _path_text(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "sequence"


class _Checker:
    def __init__(self, display: str, doc: YamlDocument, expect_name: str | None, emails: EmailLookup) -> None:
        self.emails = emails
        self.display = display
        self.doc = doc
        self.expect_name = expect_name
        self.problems: list[Problem] = []

    def report(self, where: tuple[Any, ...], message: str, fix: str | None = None) -> None:
        self.problems.append(Problem(self.display, self.doc.line_of(where), message, fix))

    def report_validation(self, error: ValidationError, prefix: tuple[Any, ...]) -> None:
        seen: set[tuple[Any, ...]] = set()
        for item in error.errors():
            loc = tuple(p for p in item["loc"] if isinstance(p, int) or ("[" not in p and "(" not in p))
            where = prefix + loc
            if where in seen:
                continue
            seen.add(where)
            kind, msg = item["type"], str(item["msg"]).removeprefix("Value error, ")
            if kind == "extra_forbidden":
                key = loc[-1] if loc else "?"
                hint = _suggest(str(key), _known_keys())
                self.report(
                    where,
                    f"unknown key '{key}' in {_path_text(where[:-1])}",
                    f"did you mean '{hint}'?"
                    if hint
                    else "remove it; see the sequence guide in docs/marketer-guide.md",
                )
            elif kind == "missing":
                self.report(where[:-1] or where, f"'{_path_text(loc)}' is required", f"add '{loc[-1]}:'")
            else:
                self.report(where, f"{_path_text(where)}: {msg}", None)

    # -- building ---------------------------------------------------------------------------------

    def build(self) -> Sequence | None:
        data = self.doc.data
        if not isinstance(data, dict):
            self.report(
                (),
                "a sequence file must be a mapping with name, from and steps",
                "start from templates/trial-nurture/sequence.yaml",
            )
            return None
        settings_data = {k: v for k, v in data.items() if k != "steps"}
        settings: SequenceSettings | None = None
        try:
            settings = SequenceSettings.model_validate(settings_data)
        except ValidationError as exc:
            self.report_validation(exc, ())
        steps = self._steps(data.get("steps"))
        if settings is None or steps is None:
            return None
        ids = [default_step_id(step, i) for i, step in enumerate(steps)]
        if not self._ids_unique(steps, ids):
            return None
        fields = {name: getattr(settings, name) for name in SequenceSettings.model_fields}
        sequence = Sequence.model_construct(
            settings.model_fields_set | {"steps", "step_ids"}, **fields, steps=tuple(steps), step_ids=tuple(ids)
        )
        self._check(sequence)
        return None if self.problems else sequence

    def _steps(self, raw: Any) -> list[Step] | None:
        if raw is None:
            self.report((), "'steps' is required", "add 'steps:' with at least one '- email: <name>'")
            return None
        if not isinstance(raw, list) or not raw:
            self.report(("steps",), "'steps' must be a list with at least one step", "write '- email: welcome'")
            return None
        steps: list[Step] = []
        ok = True
        for index, item in enumerate(raw):
            where = ("steps", index)
            kinds = [k for k in STEP_KINDS if isinstance(item, dict) and k in item]
            if len(kinds) != 1:
                keys = list(item) if isinstance(item, dict) else []
                hint = next((_suggest(str(k), STEP_KINDS) for k in keys if _suggest(str(k), STEP_KINDS)), None)
                what = "has no step kind" if not kinds else f"mixes {' and '.join(kinds)}"
                fix = f"did you mean '{hint}'?" if hint and not kinds else f"use one of: {', '.join(STEP_KINDS)}"
                self.report(where, f"step {index + 1} {what}", fix)
                ok = False
                continue
            try:
                steps.append(STEP_MODELS[kinds[0]].model_validate(item))  # type: ignore[arg-type]
            except ValidationError as exc:
                self.report_validation(exc, where)
                ok = False
        return steps if ok else None

    def _ids_unique(self, steps: list[Step], ids: list[str]) -> bool:
        first: dict[str, int] = {}
        for index, step_id in enumerate(ids):
            if step_id in first:
                self.report(
                    ("steps", index),
                    f"step id '{step_id}' is used twice (also step {first[step_id] + 1})",
                    "give one of them its own 'id:'",
                )
            first.setdefault(step_id, index)
        return len(first) == len(ids)

    # -- checks on a well-formed sequence ---------------------------------------------------------

    def _check(self, seq: Sequence) -> None:
        if self.expect_name and seq.name != self.expect_name:
            self.report(
                ("name",),
                f"name '{seq.name}' does not match its folder '{self.expect_name}'",
                f"set 'name: {self.expect_name}' or rename the folder",
            )
        emails = self._check_emails(seq)
        self._check_references(seq, emails)
        self._check_graph(seq)
        self._check_resubmit_cap(seq)
        self._check_events(seq)

    def _check_events(self, seq: Sequence) -> None:
        """A product event has one meaning per sequence: a goal, an exit, or what starts it."""
        goals = seq.goal_events
        for name in sorted({g for g in goals if goals.count(g) > 1}):
            self.report(("goal",), f"goal '{name}' is listed twice", "list each goal event once")
        for i, name in enumerate(seq.exit_on):
            if name in goals:
                self.report(
                    ("exit_on", i),
                    f"'{name}' is both a goal and an exit_on event: it would never count as a conversion",
                    "keep it under 'goal' only",
                )
        if seq.trigger is not None:
            name = seq.trigger.event
            if name in goals or name in seq.exit_on:
                role = "a goal" if name in goals else "an exit_on event"
                self.report(
                    ("trigger", "event"),
                    f"the trigger event '{name}' is also {role}: a lead would enter and leave at once",
                    "trigger on the event that starts the journey (e.g. trial_started)",
                )

    def _check_resubmit_cap(self, seq: Sequence) -> None:
        """Anyone can post a form: what re-posts may add must never make a lead sales-ready."""
        cap = seq.scoring.resubmit_cap
        if seq.sales_ready and cap >= seq.sales_ready.score:
            self.report(
                ("scoring", "resubmit_cap"),
                f"scoring.resubmit_cap ({cap:g}) reaches sales_ready.score ({seq.sales_ready.score:g}): "
                "form posts alone could make a lead sales-ready",
                "keep resubmit_cap well below the sales-ready score",
            )

    def _check_emails(self, seq: Sequence) -> dict[str, set[str]]:
        """Every email step's file must exist; returns the link names each declares."""
        links: dict[str, set[str]] = {}
        wanted: list[tuple[tuple[str | int, ...], str]] = [
            (("steps", i), name) for i, s in enumerate(seq.steps) if isinstance(s, EmailStep) for name in s.emails
        ]
        if seq.double_opt_in.enabled:
            wanted.append((("double_opt_in",), seq.double_opt_in.email))
        for where, name in wanted:
            source = self.emails(name)
            if source is None:
                folder = self.expect_name or seq.name
                self.report(
                    where, f"email '{name}' not found", f"create {folder}/{name}.md (or .html), or fix the name"
                )
            else:
                links[name] = link_names(source)
        return links

    def _check_references(self, seq: Sequence, emails: dict[str, set[str]]) -> None:
        ids = set(seq.step_ids)
        email_ids = {i for i, s in zip(seq.step_ids, seq.steps, strict=True) if isinstance(s, EmailStep)}
        all_links = set().union(*emails.values()) if emails else set()

        def target(where: tuple[Any, ...], name: str | None) -> None:
            if name is not None and name not in ids:
                hint = _suggest(name, ids)
                self.report(
                    where,
                    f"'{name}' is not a step in this sequence",
                    f"did you mean '{hint}'?" if hint else "point it at a step id (email name or 'id:')",
                )

        def link(where: tuple[Any, ...], name: str | None) -> None:
            if name and name != "any" and name not in all_links:
                hint = _suggest(name, all_links)
                self.report(
                    where,
                    f"no email in this sequence has a link named '{name}'",
                    f"did you mean '{hint}'?" if hint else f"name a link with {{ link={name} }} in an email",
                )

        def opened(where: tuple[Any, ...], name: str | None) -> None:
            if name and name != "any" and name not in email_ids:
                hint = _suggest(name, email_ids)
                self.report(
                    where,
                    f"'{name}' is not an email step",
                    f"did you mean '{hint}'?" if hint else "use 'any' or the id of an email step",
                )

        def stage(where: tuple[Any, ...], name: str) -> None:
            if name not in seq.stages:
                hint = _suggest(name, seq.stages)
                self.report(
                    where,
                    f"stage '{name}' is not declared in 'stages'",
                    f"did you mean '{hint}'?" if hint else f"add it to stages: {list(seq.stages)}",
                )

        def condition(where: tuple[Any, ...], cond: Condition) -> None:
            link((*where, "clicked"), cond.clicked)
            opened((*where, "opened"), cond.opened)
            for name in [cond.stage] if isinstance(cond.stage, str) else cond.stage or []:
                stage((*where, "stage"), name)
            for key, nested in (("all", cond.all or []), ("any", cond.any or [])):
                for i, c in enumerate(nested):
                    condition((*where, key, i), c)
            if cond.not_:
                condition((*where, "not"), cond.not_)

        for index, step in enumerate(seq.steps):
            where = ("steps", index)
            if isinstance(step, WaitForStep):
                target((*where, "then"), step.then)
                target((*where, "else"), step.else_)
                link((*where, "wait_for", "click"), step.wait_for.click)
                opened((*where, "wait_for", "open"), step.wait_for.open)
                for i, signal in enumerate(step.wait_for.any or ()):
                    link((*where, "wait_for", "any", i, "click"), signal.click)
                    opened((*where, "wait_for", "any", i, "open"), signal.open)
            elif isinstance(step, BranchStep):
                for i, case in enumerate(step.branch):
                    target((*where, "branch", i, "goto"), case.goto)
                    condition((*where, "branch", i, "if"), case.if_)
                target((*where, "else"), step.else_)
            elif isinstance(step, GotoStep):
                target((*where, "goto"), step.goto)
            elif isinstance(step, model.StageStep):
                stage((*where, "stage"), step.stage)
        for i, rule in enumerate(seq.stage_rules):
            stage(("stage_rules", i, "stage"), rule.stage)
            condition(("stage_rules", i, "when"), rule.when)
        for name in seq.scoring.links:
            link(("scoring", "links", name), name)
        for i, name in enumerate(seq.holdout.keep if seq.holdout else ()):
            opened(("holdout", "keep", i), name)
        for i, migration in enumerate(seq.migrations):
            if migration.from_ >= seq.version:
                self.report(
                    ("migrations", i, "from"),
                    f"a migration from version {migration.from_} must come from an older version than {seq.version}",
                    f"bump 'version' above {migration.from_}",
                )
            for old, new in migration.steps.items():
                target(("migrations", i, "steps", old), new)

    def _check_graph(self, seq: Sequence) -> None:
        if self.problems:
            return  # dangling targets make the graph meaningless
        edges = {step_id: successors(seq, step_id) for step_id in seq.step_ids}
        where = {step_id: ("steps", i) for i, step_id in enumerate(seq.step_ids)}
        reachable = _reach([seq.first_id], edges)
        for step_id in seq.step_ids:
            if step_id not in reachable:
                self.report(
                    where[step_id],
                    f"step '{step_id}' can never be reached",
                    "remove it, or point a goto/then/else at it",
                )
        instant = {
            s: [t for t in ts if t != END]
            for s, ts in edges.items()
            if not isinstance(seq.step(s), (WaitStep, WaitForStep))
        }
        cycle = _find_cycle(instant)
        if cycle:
            self.report(
                where[cycle[0]],
                f"steps {' -> '.join(cycle)} loop with no wait",
                "add a 'wait:' or 'wait_for:' inside the loop so a lead cannot spin forever",
            )
        backward: dict[str, list[str]] = {}
        for source, targets in edges.items():
            for t in targets:
                backward.setdefault(t, []).append(source)
        finishing = _reach([END], backward)
        stuck = [s for s in seq.step_ids if s in reachable and s not in finishing]
        if stuck:
            self.report(
                where[stuck[0]],
                f"a lead who reaches '{stuck[0]}' can never finish the sequence",
                "give the loop a way out: an 'exit:' step, a branch out, or a wait_for 'else'",
            )


def successors(seq: Sequence, step_id: str) -> list[str]:
    """Where a lead can go after `step_id`; END means the sequence is finished."""
    step = seq.step(step_id)
    following = seq.next_id(step_id) or END
    if isinstance(step, ExitStep):
        return [END]
    if isinstance(step, GotoStep):
        return [step.goto]
    if isinstance(step, WaitForStep):
        return list(dict.fromkeys([step.then or following, step.else_ or following]))
    if isinstance(step, BranchStep):
        return list(dict.fromkeys([*(c.goto for c in step.branch), step.else_ or following]))
    return [following]


def _reach(start: list[str], edges: dict[str, list[str]]) -> set[str]:
    seen, todo = set(start), deque(start)
    while todo:
        for nxt in edges.get(todo.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return None


def validate_text(
    text: str,
    emails: EmailLookup,
    display: str = SEQUENCE_FILE,
    expect_name: str | None = None,
    frozen_as: str | None = None,
) -> LoadResult:
    """Validate sequence YAML; `emails` maps an email name to its source, or None when missing.
    `frozen_as` is the file stem of a frozen version (versions/<n>.yaml), which must match."""
    try:
        doc = load_yaml(text)
    except YamlSourceError as exc:
        return LoadResult(None, [Problem(display, exc.line, str(exc), "fix the YAML syntax at this line")])
    checker = _Checker(display, doc, expect_name, emails)
    sequence = checker.build()
    if sequence and frozen_as is not None and frozen_as != str(sequence.version):
        checker.report(
            ("version",),
            f"this frozen version file says version {sequence.version}",
            f"name the file versions/{sequence.version}.yaml",
        )
        sequence = None
    return LoadResult(sequence, checker.problems)


@dataclass
class Catalog:
    """Every sequence under a templates folder, by name and version."""

    versions: dict[str, dict[int, Sequence]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def names(self) -> list[str]:
        return sorted(self.versions)

    def current(self, name: str) -> Sequence:
        versions = self.versions.get(name)
        if not versions:
            raise KeyError(name)
        return versions[max(versions)]

    def get(self, name: str, version: int) -> Sequence | None:
        return self.versions.get(name, {}).get(version)
