"""Watch the DynamoDB calls botocore makes inside a block: the benchmarks count requests and billed
units through it, tests check what a write consumed or change an item between two calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def on_dynamodb_calls(*hooks: tuple[str, Callable[..., Any]]) -> Iterator[None]:
    """Every botocore DynamoDB client created inside the block gets these `(event, handler)` pairs,
    e.g. `("before-parameter-build.dynamodb", count)`; clients made before the block are left alone."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            for event, handler in hooks:
                client.meta.events.register(event, handler)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
