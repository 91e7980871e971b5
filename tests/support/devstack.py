"""The dev stack (`ripen dev`) in this process, on a free port, with resource names of its own."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ripen_dev.local.devstack.stack import DevOptions
from ripen_dev.local.dynamodb_local import free_port
from tests.conftest import EVENTS, REPO, TEMPLATES


def dev_options(start: datetime | None = None, **values: Any) -> DevOptions:
    """Options for a dev stack of the repository's files (tests run from anywhere)."""
    settings: dict[str, Any] = {
        "port": free_port(),
        "templates": TEMPLATES,
        "page": REPO / "examples" / "landing-page" / "index.html",
        "template": REPO / "template.yaml",
        "samples": EVENTS / "ses" / "eventbridge",
        "cache": REPO / ".cache",
        "start": start,
        "prefix": f"dev{uuid.uuid4().hex[:8]}-",
        **values,
    }
    return DevOptions(**settings)
