"""An item's size as DynamoDB bills it: a write costs one unit per started KB of the item (two in a
transaction), so what is rewritten often should stay under 1 KB. For the bench and the tests."""

from __future__ import annotations

import math
from typing import Any


def kilobytes(size: int) -> int:
    """The write units of one plain write of an item of `size` bytes."""
    return max(1, math.ceil(size / 1024))


def item_size(item: dict[str, Any]) -> int:
    """An item (DynamoDB's wire format) as DynamoDB counts it: names plus values (numbers about a
    byte per two significant digits)."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value: dict[str, Any]) -> int:
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.strip("-").replace(".", "").strip("0")) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    return sum(value_size({kind[0]: v}) for v in raw)  # SS, NS, BS
