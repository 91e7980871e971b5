"""The one error every part of ripen raises for "not now": the work is whole and valid, but it
could not be done at this moment (the store throttled, a record kept changing under us, SES
asked us to slow down). Whoever delivered it delivers it again: the queue after its visibility
timeout (or after `delay`, when the raiser knows how long to wait), Lambda's own retry for an
asynchronous invocation, the client for an API call. Everything behind it is safe to repeat."""

from __future__ import annotations

from datetime import timedelta


class RetryLaterError(Exception):
    """This could not be done now; deliver it again. `delay`: how long to wait first, when known
    (None: the deliverer's own timing, e.g. the queue's visibility timeout)."""

    def __init__(self, reason: str, delay: timedelta | None = None) -> None:
        super().__init__(reason)
        self.delay = delay
