"""Links in emails carry tokens that verify for their own purpose only; the key comes from config."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ripen.adapters.secrets import MissingSecretError, lead_id_key, token_key
from ripen.config import Settings
from ripen.core.links import Links
from ripen.core.tokens import KeyRing, Purpose, TokenError, verify

TABLES = dict.fromkeys(("LEADS_TABLE", "ENROLLMENTS_TABLE", "MESSAGES_TABLE", "HISTORY_TABLE", "STATS_TABLE"), "t")
KEY = b"0123456789abcdef0123456789abcdef"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_an_unsubscribe_link_names_the_lead_and_sequence_and_nothing_else(clock):
    links = Links("https://api.acme.example/", KEY, timedelta(days=60))
    url = links.unsubscribe("ld_abc", "trial-nurture", clock.now(), message="ld_abc#trial-nurture#1#welcome")
    assert url.startswith("https://api.acme.example/unsubscribe?token=")
    claims = verify(KEY, token_of(url), Purpose.UNSUBSCRIBE, clock.now())
    assert (claims.lead_id, claims.sequence, claims.message) == (
        "ld_abc",
        "trial-nurture",
        "ld_abc#trial-nurture#1#welcome",
    )
    with pytest.raises(TokenError, match="wrong-purpose"):
        verify(KEY, token_of(url), Purpose.PREFERENCES, clock.now())


def test_a_confirmation_link_expires_with_the_double_opt_in(clock):
    links = Links("http://localhost:3000", KEY, timedelta(days=60))
    url = links.confirm("ld_abc", "trial-nurture", clock.now(), lifetime=timedelta(days=7), run=1)
    with pytest.raises(TokenError, match="expired"):
        verify(KEY, token_of(url), Purpose.CONFIRM, clock.now() + timedelta(days=7))


def test_the_key_comes_from_the_environment_locally_and_must_be_long_enough():
    assert token_key(Settings.from_env({**TABLES, "TOKEN_SECRET": "k" * 40})) == KeyRing.single(b"k" * 40)
    with pytest.raises(MissingSecretError, match="at least 32"):
        token_key(Settings.from_env({**TABLES, "TOKEN_SECRET": "short"}))
    with pytest.raises(MissingSecretError, match="TOKEN_SECRET_ARN"):
        token_key(Settings.from_env(TABLES))


def test_the_link_key_may_be_a_ring_of_keys_each_long_enough():
    ring = {"current": "k2", "keys": {"k1": "a" * 40, "k2": "b" * 40}}
    read = token_key(Settings.from_env({**TABLES, "TOKEN_SECRET": json.dumps(ring)}))
    assert read == KeyRing("k2", {"k1": b"a" * 40, "k2": b"b" * 40})
    with pytest.raises(MissingSecretError, match="at least 32"):
        token_key(Settings.from_env({**TABLES, "TOKEN_SECRET": json.dumps({**ring, "keys": {"k2": "short"}})}))
    with pytest.raises(MissingSecretError, match="current"):
        token_key(Settings.from_env({**TABLES, "TOKEN_SECRET": json.dumps({**ring, "current": "k3"})}))


def test_the_lead_id_key_comes_from_the_environment_locally_and_must_be_long_enough():
    assert lead_id_key(Settings.from_env({**TABLES, "LEAD_ID_SECRET": "i" * 40})) == b"i" * 40
    with pytest.raises(MissingSecretError, match="at least 32"):
        lead_id_key(Settings.from_env({**TABLES, "LEAD_ID_SECRET": "short"}))
    with pytest.raises(MissingSecretError, match="LEAD_ID_SECRET_ARN"):
        lead_id_key(Settings.from_env(TABLES))
