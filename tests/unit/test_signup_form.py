"""What a landing page may send: the signup's fields are checked, normalized and limited."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ripen.core.leads import InvalidEmailError, normalize_email
from ripen.models.signup import InvalidSignupError, Limits, is_honeypot_filled, parse_signup
from ripen.web.bodies import BodyError, read_fields, wants_json
from tests.support.ids import lead_id_for

LIMITS = Limits(max_attributes=3, max_attribute_length=20)
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def problems(fields: dict) -> dict[str, str]:
    with pytest.raises(InvalidSignupError) as caught:
        parse_signup(fields, LIMITS)
    return {p.field: p.message for p in caught.value.problems}


# -- addresses ------------------------------------------------------------------------------------------


def test_one_address_written_differently_is_one_lead():
    variants = ["Jane.Doe+trial@Example.COM", " jane.doe+trial@example.com", "JANE.DOE+TRIAL@EXAMPLE.COM"]
    assert {normalize_email(v.strip()) for v in variants} == {"jane.doe+trial@example.com"}
    assert len({lead_id_for(normalize_email(v.strip())) for v in variants}) == 1


def test_an_international_domain_is_kept_in_the_ascii_form_ses_sends_to():
    assert normalize_email("jane@bücher.example") == "jane@xn--bcher-kva.example"
    assert normalize_email("jane@xn--bcher-kva.example") == "jane@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("jane", "@-sign"),
        ("jane@localhost", "period"),
        ("用户@example.com", "Internationalized characters before the @-sign are not supported"),
        ("jane@exa mple.com", "invalid characters"),
        ("a" * 250 + "@example.com", "at most 254 characters"),
        ("jane@[192.0.2.1]", "IP address"),
    ],
)
def test_an_address_that_cannot_receive_email_is_refused_with_a_reason(address, says):
    with pytest.raises(InvalidEmailError, match=says):
        normalize_email(address)


# -- fields -----------------------------------------------------------------------------------------------


def test_a_complete_signup_is_normalized_and_extra_fields_become_attributes():
    form = parse_signup(
        {
            "email": "Jane@Example.com",
            "name": "  Jane  ",
            "sequence": "trial-nurture",
            "consent": "on",
            "consent_version": "2026-03",
            "tz": "Europe/Berlin",
            "utm_source": "newsletter",
            "Company-Size": 50,
            "interests": ["funnels", "retention"],
            "website": "",
        },
        LIMITS,
    )
    assert (form.email, form.name, form.sequence, form.consent, form.tz) == (
        "jane@example.com",
        "Jane",
        "trial-nurture",
        True,
        "Europe/Berlin",
    )
    assert form.lead_attributes() == {
        "company_size": "50",
        "interests": "funnels, retention",
        "utm_source": "newsletter",
    }


@pytest.mark.parametrize("ticked", ["on", "yes", "true", "1", True, "accepted"])
def test_a_ticked_consent_box_counts_whatever_value_it_sends(ticked):
    assert parse_signup({"email": "a@example.com", "consent": ticked}, LIMITS).consent is True


@pytest.mark.parametrize("unticked", ["", "off", "false", "0", False, None])
def test_an_unticked_or_absent_consent_box_is_no_consent(unticked):
    assert parse_signup({"email": "a@example.com", "consent": unticked}, LIMITS).consent is False
    assert parse_signup({"email": "a@example.com"}, LIMITS).consent is False


def test_blank_optional_fields_count_as_not_given():
    form = parse_signup({"email": "a@example.com", "name": " ", "sequence": "", "tz": "", "source": ""}, LIMITS)
    assert (form.name, form.sequence, form.tz, form.source) == (None, None, None, None)


@pytest.mark.parametrize("injected", ["Jane\r\nBcc: all@example.com", "Jane\nDoe", "Jane\u2028Doe", "Jane\x00"])
def test_a_name_with_a_line_break_is_refused_because_it_goes_into_the_to_header(injected):
    assert problems({"email": "a@example.com", "name": injected}) == {
        "name": "Line breaks and control characters are not allowed here."
    }


def test_line_breaks_in_other_text_are_flattened_so_no_stored_value_can_split_a_header():
    form = parse_signup({"email": "a@example.com", "utm_campaign": "spring\r\nsale", "company": "Acme\nLtd\t"}, LIMITS)
    assert form.utm_campaign == "spring sale"
    assert form.attributes == {"company": "Acme Ltd"}


def test_an_unknown_time_zone_is_ignored_rather_than_losing_the_signup():
    for zone in ["Mars/Olympus", "../../etc/passwd", "x" * 500, "Europe/Berlin\n"]:
        assert parse_signup({"email": "a@example.com", "tz": zone}, LIMITS).tz is None


def test_every_field_that_is_wrong_is_named_at_once():
    found = problems(
        {
            "email": "not-an-address",
            "name": "x" * 101,
            "sequence": "Trial Nurture",
            "consent": "maybe",
            "company": {"nested": True},
            "notes": "y" * 21,
            "bad field!": "1",
            "Email": "b@example.com",
        }
    )
    assert set(found) == {"email", "name", "sequence", "consent", "company", "notes", "bad field!", "Email"}
    assert found["notes"] == "At most 20 characters."
    assert found["Email"] == "Send this field as 'email'."
    assert "lowercase letters" in found["sequence"]


def test_a_missing_address_asks_for_one():
    assert problems({"name": "Jane"}) == {"email": "Please enter your email address."}


def test_too_many_extra_fields_are_refused_rather_than_silently_cut():
    assert problems({"email": "a@example.com", "a": "1", "b": "2", "c": "3", "d": "4"}) == {
        "body": "At most 3 extra fields are kept; this form sent 4."
    }


def test_text_that_is_not_valid_unicode_is_refused():
    assert problems({"email": "a@example.com", "name": "Jane \ud800"}) == {"name": "This is not valid text."}
    assert "email" in problems({"email": "jane\udfff@example.com"})


@pytest.mark.parametrize(
    ("value", "filled"), [("", False), ("  ", False), (None, False), ("http://x", True), (1, True)]
)
def test_the_honeypot_counts_as_filled_only_with_something_in_it(value, filled):
    assert is_honeypot_filled({"website": value}) is filled


@given(st.dictionaries(st.text(max_size=45), st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none())))
def test_any_fields_either_parse_or_name_their_problems(fields):
    problems: list = []
    try:
        form = parse_signup({"email": "a@example.com", **fields}, LIMITS)
    except InvalidSignupError as exc:
        problems = exc.problems
        form = None
    if form is None:
        assert problems
        assert all(p.field and p.message for p in problems)
    else:
        assert form.email == "a@example.com" or "email" in fields
        for value in [form.name, *form.attributes.values()]:
            assert value is None or not any(c in value for c in "\r\n")


# -- bodies -------------------------------------------------------------------------------------------------


def test_a_form_arrives_base64_encoded_and_plus_and_percent_escapes_decode():
    body = base64.b64encode(b"email=jane%2Btest%40example.com&name=Jane+Doe&consent=0&consent=on").decode()
    fields = read_fields(FORM, body, True, 1024, single={"consent"})
    assert fields == {"email": "jane+test@example.com", "name": "Jane Doe", "consent": "on"}


def test_a_field_sent_twice_keeps_both_values_unless_it_is_a_single_value_field():
    fields = read_fields(FORM, "interest=a&interest=b&email=x&email=y", False, 1024, single={"email"})
    assert fields == {"interest": ["a", "b"], "email": "y"}


@pytest.mark.parametrize(
    ("headers", "body", "base64_encoded", "status", "code"),
    [
        (JSON, "{", False, 400, "malformed_body"),
        (JSON, '["a"]', False, 400, "malformed_body"),
        (JSON, "[" * 2000 + "]" * 2000, False, 400, "malformed_body"),
        (JSON, "", False, 400, "empty_body"),
        (JSON, "   ", False, 400, "empty_body"),
        (JSON, "not base64!", True, 400, "malformed_body"),
        (FORM, base64.b64encode(b"name=%FF%FE").decode(), True, 400, "malformed_body"),
        (FORM, "name=caf\u00e9", False, 400, "malformed_body"),
        (FORM, "&".join(f"f{i}=1" for i in range(300)), False, 413, "payload_too_large"),
        ({"content-type": "text/plain"}, '{"email": "a@example.com"}', False, 415, "unsupported_media_type"),
        ({}, "email=a%40example.com", False, 415, "unsupported_media_type"),
        ({"content-type": "multipart/form-data; boundary=x"}, "--x--", False, 415, "unsupported_media_type"),
        (JSON, "x" * 5000, False, 413, "payload_too_large"),
        (JSON, base64.b64encode(b"x" * 4097).decode(), True, 413, "payload_too_large"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_clear_4xx(headers, body, base64_encoded, status, code):
    with pytest.raises(BodyError) as caught:
        read_fields(headers, body, base64_encoded, 4096)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message


def test_json_callers_get_json_and_browsers_posting_forms_get_pages():
    assert wants_json({"content-type": "application/json; charset=utf-8"})
    assert wants_json({"content-type": "application/x-www-form-urlencoded", "accept": "application/json"})
    assert not wants_json({"content-type": "application/x-www-form-urlencoded", "accept": "text/html,*/*;q=0.8"})
    assert not wants_json({"content-type": "application/x-www-form-urlencoded", "accept": "*/*"})  # curl -d
    assert wants_json({"content-type": "text/plain"})
