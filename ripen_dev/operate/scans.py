"""Reads only operator commands make: whole-table scans. They live here, outside what ships, so no
function's role ever needs `dynamodb:Scan` (tests/unit/test_least_privilege.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ripen.core.records import EnrollmentRecord


def enrollments_in(store: Any, sequence: str) -> Iterator[EnrollmentRecord]:
    """Every enrollment of `sequence`, in no order: the store's own records (DynamoDB or in memory)."""
    from ripen.adapters.dynamodb import DynamoStore

    if not isinstance(store, DynamoStore):  # the in-memory store of tests and `ripen serve`
        yield from (r for r in store.enrollments.values() if r.enrollment.sequence == sequence)
        return
    from ripen.adapters.dynamodb import enrollment_record
    from ripen.adapters.tables import EnrollmentItem

    for item in EnrollmentItem.scan(EnrollmentItem.sequence == sequence):
        yield enrollment_record(item)
