"""`ripen serve`: the API and the example landing page on localhost, with state in memory.

No email leaves the machine: each email the API queues is printed instead, with the confirm link
for confirmation emails, so the whole double opt-in can be tried in a browser.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from ripen.adapters.templates import load_catalog
from ripen.app import App, use
from ripen.config import Settings
from ripen.core.links import Links
from ripen.core.validator import Catalog
from ripen.ports.clock import Clock, SystemClock
from ripen.ports.queue import SendJob
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LocalHttpApi


class PrintingQueue:
    """A send queue that prints what the sender would send."""

    def __init__(self, store: InMemoryStore, catalog: Catalog, links: Links, clock: Clock, out: TextIO) -> None:
        self.store = store
        self.catalog = catalog
        self.links = links
        self.clock = clock
        self.out = out

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        for job in jobs:
            message = self.store.get_message(job.message_key)
            if message is None:
                continue
            claim = message.claim
            print(f"queued: {claim.kind} email '{claim.email}' to {claim.lead_id} ({claim.sequence})", file=self.out)
            if claim.kind == "confirmation":
                lifetime = self.catalog.current(claim.sequence).double_opt_in.expire_after
                url = self.links.confirm(claim.lead_id, claim.sequence, self.clock.now(), lifetime, claim.run)
                print(f"        its confirm link: {url}", file=self.out)
            self.out.flush()
        return []


def serve_forever(templates: Path, page: Path, port: int, sequence: str, out: TextIO) -> int:
    catalog = load_catalog(templates)
    if catalog.problems:
        for problem in catalog.problems:
            print(problem, file=out)
        return 1
    if not page.is_file():
        print(f"{page}: no such page", file=out)
        return 2
    base = f"http://127.0.0.1:{port}"
    secret = os.environ.get("TOKEN_SECRET") or secrets.token_urlsafe(32)
    settings = Settings.model_validate(
        {
            **{name: f"local-{name.split('_')[0].lower()}" for name in _TABLE_VARIABLES},
            "TEMPLATES_DIR": str(templates),
            "TOKEN_SECRET": secret,
            "LEAD_ID_SECRET": os.environ.get("LEAD_ID_SECRET") or secrets.token_urlsafe(32),
            "PUBLIC_BASE_URL": base,
            "DEFAULT_SEQUENCE": sequence,
            "ALLOWED_ORIGINS": "*",
        }
    )
    store, clock = InMemoryStore(), SystemClock()
    links = Links(base, secret.encode(), timedelta(days=settings.link_lifetime_days))
    queue = PrintingQueue(store, catalog, links, clock, out)
    use(App(settings, store=store, queue=queue, clock=clock, catalog=catalog))
    from ripen.handlers.api import handler

    server = LocalHttpApi(handler, port=port, static={"/": page})
    server.start()
    print(f"ripen serve: the landing page at {base}/ posts to {base}/leads (state in memory; Ctrl-C stops)", file=out)
    out.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


_TABLE_VARIABLES = ("LEADS_TABLE", "ENROLLMENTS_TABLE", "MESSAGES_TABLE", "HISTORY_TABLE", "STATS_TABLE")
