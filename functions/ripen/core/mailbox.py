"""The mailbox an address delivers to: the key the per-mailbox signup limits count under.

`Target+1@Gmail.com`, `t.a.r.g.e.t@gmail.com` and `target@googlemail.com` all reach one inbox, so a
limit per address would let one person be sent a confirmation per variant. Pure: no I/O.
"""

from __future__ import annotations

# Domains whose mailboxes ignore dots in the local part (and which are one another's aliases).
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def canonical_mailbox(address: str) -> str:
    """Lowercased, `+tag` removed; for Gmail, dots removed and googlemail.com read as gmail.com."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        domain = DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"
