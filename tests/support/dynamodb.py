"""One DynamoDB Local per test process, however many conftests ask for it.

Started the first time a test needs it, stopped when the run ends. Under pytest-xdist every worker
has its own (in memory, on a free port): workers share nothing, and tests keep apart by table prefix.
One engine per process matters: Java takes seconds of CPU to start and warm up."""

from __future__ import annotations

import os
from pathlib import Path

from ripen_dev.local.dynamodb_local import DynamoDBLocal

CACHE = Path(__file__).resolve().parents[2] / ".cache"  # where `make dynamodb-local` unpacked it

_engine: DynamoDBLocal | None = None


def endpoint() -> str:
    """The running engine's endpoint; starts it on the first call in this process."""
    global _engine
    if _engine is None:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        engine = DynamoDBLocal(CACHE)
        engine.start()
        _engine = engine
    return _engine.endpoint


def stop() -> None:
    global _engine
    if _engine is not None:
        _engine.stop()
        _engine = None
