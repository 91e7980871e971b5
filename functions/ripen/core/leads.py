"""Lead identity: one lead per normalized email address, named by an id that is not the address."""

from __future__ import annotations

import base64
import hashlib


def lead_id_for(normalized_email: str) -> str:
    """A stable, opaque id for an address, so keys, tags, logs and metrics never carry the address.

    Deterministic so that two signups racing for the same address converge on one item.
    """
    digest = hashlib.sha256(f"ripen:lead:{normalized_email}".encode()).digest()
    return "ld_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:24]


def shard_of(lead_id: str, shards: int) -> str:
    """The due-index partition of a lead: spreads due work evenly over `shards` keys."""
    return f"{int.from_bytes(hashlib.blake2b(lead_id.encode(), digest_size=4).digest(), 'big') % shards:02d}"
