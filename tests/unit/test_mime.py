"""The MIME message every email travels in: lines that strict gateways and spam filters accept."""

from __future__ import annotations

import email
from email import policy

import pytest

from ripen.ports.mailer import OutgoingEmail
from tests.conftest import REPO

GOLDEN = sorted((REPO / "tests" / "golden").glob("*/*.html"))
LONG_URL = "https://go.acme.example/unsubscribe?token=" + "t" * 180


def outgoing(html_file) -> OutgoingEmail:
    subject, _, text = html_file.with_suffix(".txt").read_text(encoding="utf-8").partition("\n\n")
    return OutgoingEmail(
        from_="Acme <hello@acme.example>",
        to="ana@example.com",
        subject=subject.removeprefix("Subject: "),
        html=html_file.read_text(encoding="utf-8"),
        text=text,
        headers={"List-Unsubscribe": f"<{LONG_URL}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


@pytest.mark.parametrize("html_file", GOLDEN, ids=[f"{p.parent.name}/{p.stem}" for p in GOLDEN])
def test_no_line_of_any_part_is_longer_than_quoted_printable_allows(html_file):
    # Given an example email as a lead receives it
    sent = outgoing(html_file)
    # When it is built into the raw message SES sends
    raw = sent.mime()
    # Then every line of every quoted-printable part is at most 76 characters (RFC 2045 6.7),
    message = email.message_from_bytes(raw, policy=policy.SMTP)
    parts = [part for part in message.walk() if not part.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        body_lines = part.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[1].split(b"\r\n")
        too_long = [line for line in body_lines if len(line) > 76]
        assert not too_long, f"{part.get_content_type()}: {len(too_long)} line(s) over 76, e.g. {too_long[0][:90]!r}"
    # and the soft line breaks take nothing away from the content (MIME ends a part with a newline)
    assert decoded(parts[0]) == ended(sent.text)
    assert decoded(parts[1]) == ended(sent.html)


def decoded(part: email.message.EmailMessage) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


def ended(text: str) -> str:
    text = text.replace("\r\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def test_a_long_unsubscribe_url_still_travels_on_one_header_line():
    # Given an email whose List-Unsubscribe URL is longer than 76 characters
    raw = outgoing(GOLDEN[0]).mime()
    # Then the header is not folded inside the URL (mail clients would break the link)
    header = next(line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:"))
    assert LONG_URL.encode() in header
