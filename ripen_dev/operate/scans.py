"""Reads only operator commands make: whole-table scans. They live here, outside what ships, so no
function's role ever needs `dynamodb:Scan` (tests/unit/test_least_privilege.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

from ripen.core.records import EnrollmentRecord

if TYPE_CHECKING:
    from ripen_dev.operate.progress import Progress


def enrollments_in(store: Any, names: Collection[str], progress: Progress | None = None) -> Iterator[EnrollmentRecord]:
    """Every enrollment of these sequences, in no order: the store's own records (DynamoDB or in memory)."""
    from ripen.adapters.dynamodb import DynamoStore

    if not isinstance(store, DynamoStore):  # the in-memory store of tests and `ripen serve`
        yield from (r for r in list(store.enrollments.values()) if r.enrollment.sequence in names)
        return
    from ripen.adapters.dynamodb import enrollment_record
    from ripen.adapters.tables import EnrollmentItem

    for item in EnrollmentItem.scan(EnrollmentItem.sequence.is_in(*names)):
        if progress is not None:
            progress.advance()
        yield enrollment_record(item)
