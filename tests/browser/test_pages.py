"""The shared page layout renders in Chromium: readable on a phone, escaped, keyboard reachable."""

from __future__ import annotations

import pytest

from ripen.web.pages import html_response_headers, render_page
from ripen_dev.local.http import LocalHttpApi

pytestmark = pytest.mark.browser


def test_a_message_page_is_readable_on_a_phone_and_escapes_what_it_shows(page):
    def handler(event, context):
        body = render_page(
            "message.html",
            title="Done",
            heading="You're all set",
            paragraphs=["<script>alert(1)</script> stays text"],
            tone="",
            link=None,
        )
        return {"statusCode": 200, "headers": html_response_headers(), "body": body}

    with LocalHttpApi(handler) as url:
        page.goto(f"{url}/anything")
        assert page.get_by_role("heading", name="You're all set").is_visible()
        assert page.get_by_text("<script>alert(1)</script> stays text").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
