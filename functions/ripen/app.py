"""Wiring: the parts a handler needs, built once per container on first use (never at import).

Tests and `ripen dev` install their own parts with `use(App(...))`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from ripen.adapters.queue import SendQueue, SqsSendQueue
from ripen.adapters.store import Store
from ripen.clock import Clock, SystemClock
from ripen.config import Settings
from ripen.core.validator import Catalog, SequenceError, load_catalog
from ripen.services.links import Links
from ripen.services.nurture import Nurture
from ripen.services.signup import Signup


class App:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        queue: SendQueue | None = None,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self._settings = settings
        if store is not None:
            self.__dict__["store"] = store
        if queue is not None:
            self.__dict__["send_queue"] = queue
        if clock is not None:
            self.__dict__["clock"] = clock
        if catalog is not None:
            self.__dict__["catalog"] = catalog

    @cached_property
    def settings(self) -> Settings:
        return self._settings or Settings.from_env()

    @cached_property
    def clock(self) -> Clock:
        return SystemClock()

    @cached_property
    def store(self) -> Store:
        from ripen.adapters.dynamodb import DynamoStore  # pynamodb/botocore only when needed

        return DynamoStore(self.settings)

    @cached_property
    def catalog(self) -> Catalog:
        catalog = load_catalog(self.settings.templates_dir)
        if catalog.problems:
            raise SequenceError(catalog.problems)  # CI lint stops this before deploy
        return catalog

    @cached_property
    def send_queue(self) -> SendQueue:
        if not self.settings.send_queue_url:
            raise RuntimeError("SEND_QUEUE_URL is not set")
        return SqsSendQueue(self.settings.send_queue_url)

    @cached_property
    def token_key(self) -> bytes:
        from ripen.adapters.secrets import token_key

        return token_key(self.settings)

    @cached_property
    def links(self) -> Links:
        return Links(self.settings.public_base_url, self.token_key, timedelta(days=self.settings.link_lifetime_days))

    @cached_property
    def nurture(self) -> Nurture:
        return Nurture(self.store, self.catalog, self.send_queue, self.clock)

    @cached_property
    def signup(self) -> Signup:
        s = self.settings
        return Signup(
            self.store,
            self.nurture,
            self.clock,
            default_sequence=s.default_sequence,
            unconfirmed_lead_ttl=timedelta(days=s.unconfirmed_lead_days),
            max_attributes=s.max_attributes,
        )


_app: App | None = None


def app() -> App:
    global _app
    if _app is None:
        _app = App()
    return _app


def use(instance: App | None) -> None:
    """Install the parts to use (tests, dev stack); None goes back to building from the environment."""
    global _app
    _app = instance
