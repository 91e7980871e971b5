"""Lead scoring: weights per engagement, decay over time, and the conditions rules test."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from ripen.core.sequence import Comparison, Condition, Sequence
from ripen.core.state import Enrollment, LeadContext

WEEK = timedelta(days=7)


def decayed(score: float, since: datetime | None, now: datetime, decay_per_week: float) -> float:
    """The score as it stands at `now`, shrinking by `decay_per_week` for every week since `since`."""
    if not score or since is None or decay_per_week <= 0 or now <= since:
        return score
    weeks = (now - since) / WEEK
    return score * math.pow(1 - decay_per_week, weeks)


def current_score(enrollment: Enrollment, sequence: Sequence, now: datetime) -> float:
    return decayed(enrollment.score, enrollment.score_at, now, sequence.scoring.decay_per_week)


def holds(condition: Condition, enrollment: Enrollment, sequence: Sequence, lead: LeadContext, now: datetime) -> bool:
    """Every test given in the condition must hold."""
    if condition.score is not None and not condition.score.holds(current_score(enrollment, sequence, now)):
        return False
    if condition.stage is not None:
        stages = [condition.stage] if isinstance(condition.stage, str) else condition.stage
        if enrollment.stage not in stages:
            return False
    if condition.clicked is not None and f"click:{condition.clicked}" not in enrollment.engaged:
        return False
    if condition.opened is not None and f"open:{condition.opened}" not in enrollment.engaged:
        return False
    if condition.attribute is not None:
        for name, test in condition.attribute.items():
            if not _attribute_holds(lead.attributes.get(name), test):
                return False
    if condition.all is not None and not all(holds(c, enrollment, sequence, lead, now) for c in condition.all):
        return False
    if condition.any is not None and not any(holds(c, enrollment, sequence, lead, now) for c in condition.any):
        return False
    return condition.not_ is None or not holds(condition.not_, enrollment, sequence, lead, now)


def _attribute_holds(actual: Any, test: Any) -> bool:
    if actual is None:
        return False
    if isinstance(test, Comparison):
        try:
            return test.holds(float(actual))
        except (TypeError, ValueError):
            return False
    if isinstance(test, bool):
        return _truthy(actual) == test
    if isinstance(test, list):
        return str(actual).casefold() in {str(t).casefold() for t in test}
    return str(actual).casefold() == str(test).casefold()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on", "y"}
    return bool(value)
