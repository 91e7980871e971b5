"""A sequence as a Mermaid flowchart (`ripen graph`): every step a node, every way on an edge, the
then/else of a wait_for and the conditions of a branch written on their edges. GitHub, GitLab and most
editors render it, so a pull request can show the shape of a sequence next to its YAML."""

from __future__ import annotations

from ripen.core.durations import format_duration
from ripen.core.sequence import (
    BranchStep,
    Comparison,
    Condition,
    EmailStep,
    ExitStep,
    GotoStep,
    Sequence,
    Signal,
    StageStep,
    Step,
    WaitForStep,
    WaitStep,
    WaitUntilStep,
)

FINISH = "finish"  # Mermaid reserves `end`


def describe_condition(condition: Condition) -> str:
    """A branch condition as a reader says it: `stage decision`, `score >= 30 or clicked pricing`."""
    parts: list[str] = []
    if condition.score is not None:
        parts.append(f"score {condition.score}")
    if isinstance(condition.stage, str):
        parts.append(f"stage {condition.stage}")
    elif condition.stage is not None:
        parts.append(f"stage in {', '.join(condition.stage)}")
    if condition.clicked is not None:
        parts.append(f"clicked {condition.clicked}")
    if condition.opened is not None:
        parts.append(f"opened {condition.opened}")
    for key, test in (condition.attribute or {}).items():
        parts.append(f"{key} {test}" if isinstance(test, Comparison) else f"{key} = {test}")
    if condition.all:
        parts.append("(" + " and ".join(describe_condition(c) for c in condition.all) + ")")
    if condition.any:
        parts.append("(" + " or ".join(describe_condition(c) for c in condition.any) + ")")
    if condition.not_ is not None:
        parts.append(f"not ({describe_condition(condition.not_)})")
    return " and ".join(parts)


def _did(signal: Signal) -> str:
    """What the lead did, on a `then` edge: `clicks pricing`, `opens welcome`, `demo_booked`."""
    if signal.click is not None:
        return f"clicks {signal.click}"
    if signal.open is not None:
        return f"opens {signal.open}"
    return str(signal.event)


def describe_step(step: Step) -> str:
    match step:
        case EmailStep():
            return f"email {step.email}"
        case WaitStep():
            return f"wait {format_duration(step.wait)}"
        case WaitUntilStep():
            return f"wait until day {step.wait_until}"
        case WaitForStep():
            signal = str(step.wait_for)
            article = "an" if signal.startswith("open") else "a"
            return f"wait up to {format_duration(step.wait_for.within)} for {article} {signal}"
        case BranchStep():
            return "branch"
        case StageStep():
            return f"stage: {step.stage}"
        case GotoStep():
            return f"go to {step.goto}"
        case ExitStep():
            return f"exit: {step.exit}"
    raise TypeError(step)  # pragma: no cover - every step kind is matched above


# Node shapes by kind: emails are boxes, waits rounded, decisions diamonds/hexagons, exits double boxes.
_SHAPES: dict[str, tuple[str, str]] = {
    "email": ("[", "]"),
    "wait": ("([", "])"),
    "wait_until": ("([", "])"),
    "wait_for": ("{{", "}}"),
    "branch": ("{", "}"),
    "stage": ("[/", "/]"),
    "goto": ("[", "]"),
    "exit": ("[[", "]]"),
}


def _text(label: str) -> str:
    """A quoted Mermaid label: quotes are the one character it cannot hold as is."""
    return '"' + label.replace('"', "#quot;") + '"'


def mermaid(sequence: Sequence) -> str:
    """`flowchart TD` text for the sequence; node names are s1, s2, ... (step ids may hold '-')."""
    node = {step_id: f"s{i + 1}" for i, step_id in enumerate(sequence.step_ids)}
    lines = ["flowchart TD", f"    %% {sequence.name}, version {sequence.version}"]
    for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True):
        opening, closing = _SHAPES[step.kind]
        lines.append(f"    {node[step_id]}{opening}{_text(f'{step_id}<br/>{describe_step(step)}')}{closing}")
    edges: list[str] = []
    finishes = False
    for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True):
        following = sequence.next_id(step_id)
        ways: list[tuple[str | None, str | None]] = []  # (label, target step id; None: the end)
        match step:
            case ExitStep():
                continue
            case GotoStep():
                ways.append((None, step.goto))
            case WaitForStep():
                what = " or ".join(_did(signal) for signal in step.wait_for.signals)
                ways.append((f"then: {what}", step.then or following))
                ways.append((f"else: not within {format_duration(step.wait_for.within)}", step.else_ or following))
            case BranchStep():
                ways.extend((f"if {describe_condition(case.if_)}", case.goto) for case in step.branch)
                ways.append(("else", step.else_ or following))
            case _:
                ways.append((None, following))
        for label, target in ways:
            finishes = finishes or target is None
            arrow = f" -->|{_text(label)}| " if label else " --> "
            edges.append(f"    {node[step_id]}{arrow}{node[target] if target else FINISH}")
    if finishes:
        lines.append(f'    {FINISH}(("end"))')
    return "\n".join([*lines, *edges]) + "\n"
