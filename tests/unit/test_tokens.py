"""Links carry signed, expiring, purpose-bound tokens; anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ripen.core.tokens import KeyRing, Purpose, TokenError, issue, verify

KEY = b"k" * 32
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_token_verifies_for_its_own_purpose_until_it_expires():
    token = issue(KEY, Purpose.PREFERENCES, "ld_abc", NOW + timedelta(days=30), sequence="trial-nurture")
    claims = verify(KEY, token, Purpose.PREFERENCES, NOW)
    assert (claims.lead_id, claims.sequence) == ("ld_abc", "trial-nurture")
    with pytest.raises(TokenError, match="expired"):
        verify(KEY, token, Purpose.PREFERENCES, NOW + timedelta(days=30))


def test_an_unsubscribe_token_still_unsubscribes_after_its_expiry_and_says_it_has_expired():
    token = issue(KEY, Purpose.UNSUBSCRIBE, "ld_abc", NOW + timedelta(days=30))
    claims = verify(KEY, token, Purpose.UNSUBSCRIBE, NOW + timedelta(days=400))
    assert claims.lead_id == "ld_abc"
    assert claims.expired(NOW + timedelta(days=400))  # what it leads to (preferences) ends with it


def test_a_token_names_its_key_and_verifies_only_while_the_ring_holds_that_key():
    old, new = KeyRing("k1", {"k1": KEY}), KeyRing("k2", {"k1": KEY, "k2": b"n" * 32})
    token = issue(old, Purpose.PREFERENCES, "ld_abc", NOW + timedelta(days=1))
    assert verify(new, token, Purpose.PREFERENCES, NOW).lead_id == "ld_abc"
    with pytest.raises(TokenError, match="forged"):
        verify(KeyRing("k2", {"k2": b"n" * 32}), token, Purpose.PREFERENCES, NOW)
    # a token signed before the ring had ids verifies with any key the ring holds
    plain = issue(KEY, Purpose.PREFERENCES, "ld_abc", NOW + timedelta(days=1))
    assert verify(new, plain, Purpose.PREFERENCES, NOW).lead_id == "ld_abc"


def test_a_confirm_token_carries_its_run_and_when_it_was_issued():
    token = issue(KEY, Purpose.CONFIRM, "ld_abc", NOW + timedelta(days=7), "trial-nurture", issued_at=NOW, run=2)
    claims = verify(KEY, token, Purpose.CONFIRM, NOW)
    assert (claims.run, claims.issued_at) == (2, NOW)


def test_a_token_for_one_purpose_is_refused_for_another():
    token = issue(KEY, Purpose.PREFERENCES, "ld_abc", NOW + timedelta(days=1))
    with pytest.raises(TokenError) as refused:
        verify(KEY, token, Purpose.UNSUBSCRIBE, NOW)
    assert refused.value.reason == "wrong-purpose"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "eyJwIjoidW5zdWJzY3JpYmUiLCJsIjoibGRfZXZpbCIsImUiOjk5OTk5OTk5OTksIm4iOiJ4In0." + t.split(".")[1],
    ],
)
def test_a_tampered_token_is_forged(mangle):
    token = issue(KEY, Purpose.UNSUBSCRIBE, "ld_abc", NOW + timedelta(days=1))
    with pytest.raises(TokenError) as refused:
        verify(KEY, mangle(token), Purpose.UNSUBSCRIBE, NOW)
    assert refused.value.reason == "forged"


def test_a_token_signed_with_another_key_is_forged():
    token = issue(b"other-key", Purpose.CONFIRM, "ld_abc", NOW + timedelta(days=1))
    with pytest.raises(TokenError, match="forged"):
        verify(KEY, token, Purpose.CONFIRM, NOW)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 2000, "%%%.%%%"])
def test_garbage_is_malformed_or_forged(garbage):
    with pytest.raises(TokenError):
        verify(KEY, garbage, Purpose.CONFIRM, NOW)


def test_tokens_carry_no_email_address():
    token = issue(KEY, Purpose.CONFIRM, "ld_abc", NOW + timedelta(days=1))
    assert "@" not in token


@pytest.mark.parametrize("pasted", [".\u0080", "é.é", "eyJwIjoi\u2026.abc"])
def test_a_token_with_characters_a_signature_never_has_is_malformed_not_a_crash(pasted):
    # (found by schemathesis: hmac.compare_digest refuses non-ASCII text)
    with pytest.raises(TokenError) as refused:
        verify(KEY, pasted, Purpose.CONFIRM, NOW)
    assert refused.value.reason == "malformed"
