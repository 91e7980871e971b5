"""The one way ripen makes an AWS client: botocore's, from one session per process, with one
configuration (short timeouts, botocore's standard retry mode). botocore comes with the Lambda
runtime, so nothing is packaged for it; it is imported on the first client, never at import, so
a function that makes no AWS call never pays for it."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
# Standard mode retries throttling and transient errors only, with jittered exponential backoff.
RETRIES = 4
# botocore makes clients from one session one at a time (creating them is not thread-safe).
CREATING = threading.Lock()


def client(service: str, region: str | None = None, *, retries: int = RETRIES, endpoint_url: str | None = None) -> Any:
    """A client for `service` (`sqs`, `sesv2`, `events`, `dynamodb`, ...). `region`: None for the
    environment's (AWS_DEFAULT_REGION, which Lambda sets). `retries`: calls made again after the
    first; 0 for a call that is not idempotent. `endpoint_url`: a local stand-in (DynamoDB Local)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": retries + 1},
    )
    with CREATING:
        return session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)


@cache
def session() -> Any:
    """Loading a session reads botocore's data files (endpoints, each service's model): once per
    container is enough. pynamodb's connection uses it too (`ripen.adapters.tables.bind`)."""
    from botocore.session import get_session

    return get_session()


class DynamoTableClient:
    """A table reached through the low-level DynamoDB client (made on first use), for the adapters
    whose items do not fit a pynamodb model: counters named at run time (stats, signup limits)."""

    def __init__(self, table: str, region: str, endpoint: str | None = None, client: Any = None) -> None:
        self.table = table
        self.region = region
        self.endpoint = endpoint
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client("dynamodb", self.region, endpoint_url=self.endpoint)
        return self._client
