"""Rendering emails: whatever a lead typed into a form stays data, a missing value is an error at
its line, links get their SES names and UTM parameters, and the text version reads well."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ripen.core.records import Consent, Lead
from ripen.mail.render import EmailContext, Renderer, RenderError, SenderDetails, lead_view
from tests.conftest import TEMPLATES
from tests.support.ids import lead_id_for

UNSUBSCRIBE = "https://go.acme.example/unsubscribe?token=unsub.sig"
PREFERENCES = "https://go.acme.example/preferences?token=prefs.sig"
SENDER = SenderDetails("Acme Insights", "Acme Insights Inc., 100 Example Street, Springfield", "https://acme.example")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for shared in ("_layouts", "_partials"):
        shutil.copytree(TEMPLATES / shared, tmp_path / shared)
    (tmp_path / "news").mkdir()
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / "news" / name
    path.write_text(text, encoding="utf-8")
    return path


def lead(name: str | None = None, **attributes: str) -> Lead:
    """A confirmed lead: emails show the free-form fields of confirmed leads only."""
    at = datetime(2026, 3, 2, tzinfo=UTC)
    return Lead(
        lead_id_for("ana@example.com"),
        "ana@example.com",
        at,
        name=name,
        attributes=attributes,
        consents=(Consent(at, confirmed_at=at),),
    )


def context(person: Lead, confirm: str | None = None) -> EmailContext:
    return EmailContext(lead_view(person), SENDER, "news", "Acme news", UNSUBSCRIBE, PREFERENCES, confirm)


def render(folder: Path, body: str, person: Lead, front: str = "", suffix: str = ".md"):
    path = write(folder, f"hello{suffix}", f'---\nsubject: "Hello"\npreheader: "A short note"\n{front}---\n{body}')
    return Renderer(folder, own_url="https://go.acme.example").render(path, context(person))


HOSTILE_NAMES = [
    "<script>alert('x')</script>",
    "[Claim your prize](https://evil.example/win)",
    "{: onclick=alert(1) } **bold** _it_ `code`",
    "{{ 7*7 }} {% if true %}yes{% endif %}",
    '"><img src=x onerror=alert(1)>',
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


def card_of(html: str) -> _Elements:
    """The elements and visible text of the email's body (inside the layout's card)."""
    parser = _Elements()
    parser.feed(html.split('class="card"', 1)[1].split(">", 1)[1].split("</td>", 1)[0])
    return parser


def anchors(html: str) -> list[dict[str, str | None]]:
    parser = _Elements()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == "a"]


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_whatever_a_lead_typed_is_shown_as_typed_and_never_becomes_markup(folder, hostile, suffix):
    # Given a lead whose company field holds markup, Markdown or template syntax
    person = lead("Ana", company=hostile)
    body = "Hello {{ lead.company }} team.\n" if suffix == ".md" else "<p>Hello {{ lead.company }} team.</p>\n"
    # When an email shows it
    email = render(folder, body, person, suffix=suffix)
    # Then the reader sees exactly what was typed, in the HTML and in the text version
    card = card_of(email.html)
    assert f"Hello {hostile} team." in card.text
    assert f"Hello {hostile} team." in email.text
    # and none of it became an element, an attribute, a link or an evaluated expression
    assert [tag for tag, _ in card.tags] == ["p"]
    assert [set(attrs) for _, attrs in card.tags] == [{"style"}]
    assert "49" not in email.text


def test_control_characters_in_lead_data_cannot_break_a_line_or_a_header(folder):
    person = lead("Ana", company="Fernhill\r\nBcc: victim@example.com\u2028X")
    path = write(folder, "hello.md", '---\nsubject: "News for {{ lead.company }}"\npreheader: "Hi"\n---\nHi\n')
    email = Renderer(folder).render(path, context(person))
    assert email.subject == "News for Fernhill Bcc: victim@example.com X"
    assert "\r" not in email.subject
    assert "\n" not in email.subject


def test_a_missing_value_is_an_error_at_its_line_never_an_empty_hole(folder):
    body = "Hi there,\n\nWe made this for {{ lead.company }}.\n"
    with pytest.raises(RenderError) as caught:
        render(folder, body, lead("Ana"))  # no company
    assert caught.value.file == "news/hello.md"
    assert caught.value.line == 7  # 4 front matter lines + '---' + 2 body lines
    assert "company" in caught.value.message
    assert "default" in (caught.value.fix or "")


def test_default_fills_in_what_a_lead_did_not_give(folder):
    email = render(folder, 'Hi {{ lead.first_name | default("there") }},\n', lead(None))
    assert email.text.startswith("Hi there,")
    email = render(folder, 'Hi {{ lead.first_name | default("there") }},\n', lead("Ana Lopez"))
    assert email.text.startswith("Hi Ana,")


def test_a_missing_value_in_the_subject_points_at_the_subject_line(folder):
    path = write(folder, "hello.md", '---\npreheader: "Hi"\nsubject: "For {{ lead.company }}"\n---\nHi\n')
    with pytest.raises(RenderError) as caught:
        Renderer(folder).render(path, context(lead("Ana")))
    assert (caught.value.line, caught.value.message.split(":")[0]) == (3, "subject")


@pytest.mark.parametrize(
    "expression",
    ["{{ lead.__class__.__mro__ }}", "{{ ''.__class__.__subclasses__() }}", "{{ lead.attributes.update({'a': 1}) }}"],
)
def test_the_sandbox_refuses_anything_beyond_showing_data(folder, expression):
    with pytest.raises(RenderError) as caught:
        render(folder, f"Hi\n\n{expression}\n", lead("Ana"))
    assert caught.value.line == 7
    assert "not allowed" in caught.value.message


def test_a_template_syntax_error_names_its_line(folder):
    with pytest.raises(RenderError) as caught:
        render(folder, "Hi\n\n{% if lead.first_name %}\nno end\n", lead("Ana"))
    assert caught.value.file == "news/hello.md"
    assert "syntax" in caught.value.message


def test_a_named_link_is_tagged_for_ses_click_events_and_gets_utm_parameters(folder):
    body = "[See plans](https://acme.example/pricing?plan=pro){ link=pricing }\n"
    email = render(folder, body, lead("Ana"))
    [link] = [a for a in anchors(email.html) if a.get("ses:tags")]
    utm = "utm_source=ripen&utm_medium=email&utm_campaign=news&utm_content=hello"
    assert link["ses:tags"] == "link:pricing"
    assert link["href"] == f"https://acme.example/pricing?plan=pro&{utm}"
    assert "link" not in link
    assert email.named_links == ["pricing"]


def test_a_named_link_in_an_html_email_is_tagged_too(folder):
    body = '<p><a href="https://acme.example/demo#book" link="demo">Book a demo</a></p>\n'
    email = render(folder, body, lead("Ana"), suffix=".html")
    [link] = [a for a in anchors(email.html) if a.get("ses:tags")]
    assert link["ses:tags"] == "link:demo"
    assert str(link["href"]).endswith("utm_content=hello#book")  # the fragment stays last


def test_utm_parameters_a_marketer_set_are_kept_and_utm_false_leaves_links_alone(folder):
    own = render(folder, "[x](https://acme.example/?utm_source=partner){ link=x }\n", lead("Ana"))
    [link] = [a for a in anchors(own.html) if a.get("ses:tags")]
    assert link["href"] == (
        "https://acme.example/?utm_source=partner&utm_medium=email&utm_campaign=news&utm_content=hello"
    )
    plain = render(folder, "[x](https://acme.example/page){ link=x }\n", lead("Ana"), front="utm: false\n")
    assert [a["href"] for a in anchors(plain.html) if a.get("ses:tags")] == ["https://acme.example/page"]


def test_the_footer_links_are_untracked_and_carry_no_utm(folder):
    email = render(folder, "Hi\n", lead("Ana"))
    untracked = [a["href"] for a in anchors(email.html) if "ses:no-track" in a]
    assert untracked == [UNSUBSCRIBE, PREFERENCES]
    footer = [link for link in email.links if link.href in (UNSUBSCRIBE, PREFERENCES)]
    assert [(link.text, link.tracked) for link in footer] == [("Unsubscribe", False), ("Email preferences", False)]


def test_css_is_inlined_so_mail_clients_that_drop_style_tags_still_show_the_design(folder):
    email = render(folder, "Hi there\n", lead("Ana"))
    assert '<p style="margin: 0 0 16px;">Hi there</p>' in email.html
    assert "@media only screen" in email.html  # responsive rules stay for clients that read them


def test_the_text_version_reads_well_with_link_addresses_and_the_footer(folder):
    body = "Hi,\n\n- one\n- two\n\n[See plans](https://acme.example/pricing){ link=pricing }\n"
    email = render(folder, body, lead("Ana"))
    assert "- one\n- two" in email.text
    assert re.search(r"See plans\s+\(https://acme\.example/pricing\?utm_source=ripen&utm_medium=email", email.text)
    assert f"Unsubscribe: {UNSUBSCRIBE}" in email.text
    assert SENDER.postal_address in email.text
    assert "A short note" not in email.text  # the preheader is hidden in the HTML, absent in text


def test_a_hand_written_text_version_replaces_the_generated_one(folder):
    write(folder, "hello.txt", "Hi {{ lead.first_name }}, plain words only.\n")
    email = render(folder, "Hi **{{ lead.first_name }}**\n", lead("Ana"))
    assert email.text.startswith("Hi Ana, plain words only.\n")
    assert f"Unsubscribe: {UNSUBSCRIBE}" in email.text  # the text layout still adds the footer


def test_the_preheader_is_hidden_in_the_html(folder):
    email = render(folder, "Hi\n", lead("Ana"))
    hidden = email.html.split('class="preheader"', 1)[1].split(">", 1)
    assert "display:none" in hidden[0].replace(" ", "")
    assert hidden[1].startswith("A short note")
