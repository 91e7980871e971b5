"""One message, ready for SES: links with fresh tokens, the rendered content, the headers the law
and mailbox providers require, and the message tags.

Every email carries
- `List-Unsubscribe: <https://.../unsubscribe?token=...>` (and `<mailto:...>` when
  `UNSUBSCRIBE_MAILTO` is set), the same link as the footer's "Unsubscribe";
- `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): mailbox providers POST that
  body to the URL, which unsubscribes at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from ripen.core import tags
from ripen.core.links import Links
from ripen.core.locales import split_locale
from ripen.core.records import Lead, MessageClaim
from ripen.core.sequence import Sequence
from ripen.mail.render import EmailContext, RenderedEmail, Renderer, RenderError, SenderDetails, lead_view
from ripen.ports.mailer import OutgoingEmail

LIST_UNSUBSCRIBE = "List-Unsubscribe"
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe-Post"
ONE_CLICK = "List-Unsubscribe=One-Click"
CONTENT_LANGUAGE = "Content-Language"


def list_unsubscribe_headers(unsubscribe_url: str, mailto: str | None = None) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers: the HTTPS one-click link first, a mailto when configured."""
    targets = [f"<{unsubscribe_url}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject={quote('unsubscribe')}>")
    return {LIST_UNSUBSCRIBE: ", ".join(targets), LIST_UNSUBSCRIBE_POST: ONE_CLICK}


class Composer:
    def __init__(
        self,
        renderer: Renderer,
        links: Links,
        sender: SenderDetails,
        *,
        configuration_set: str | None = None,
        unsubscribe_mailto: str | None = None,
    ) -> None:
        self.renderer = renderer
        self.links = links
        self.sender = sender
        self.configuration_set = configuration_set
        self.unsubscribe_mailto = unsubscribe_mailto

    def context(self, claim: MessageClaim, lead: Lead, sequence: Sequence, now: datetime) -> EmailContext:
        confirm = None
        if claim.kind == "confirmation":
            lifetime = sequence.double_opt_in.expire_after
            confirm = self.links.confirm(lead.lead_id, sequence.name, now, lifetime=lifetime, run=claim.run)
        return EmailContext(
            lead=lead_view(lead),
            sender=self.sender,
            sequence_name=sequence.name,
            sequence_title=sequence.display_title,
            unsubscribe_url=self.links.unsubscribe(lead.lead_id, sequence.name, now, message=claim.key),
            preferences_url=self.links.preferences(lead.lead_id, sequence.name, now),
            confirm_url=confirm,
            locale=lead.locale,
            visit_token=self.links.visit_token(lead.lead_id, now) if sequence.pages and self.sender.website else None,
        )

    def render(
        self, claim: MessageClaim, lead: Lead, sequence: Sequence, now: datetime
    ) -> tuple[EmailContext, RenderedEmail]:
        path = self.renderer.find(sequence.name, claim.email, lead.locale)
        if path is None:
            raise RenderError(f"{sequence.name}/{claim.email}.md", 1, f"email '{claim.email}' not found")
        context = self.context(claim, lead, sequence, now)
        rendered = self.renderer.render(path, context, email_name=claim.email)
        return context, replace(rendered, language=split_locale(path.stem)[1])

    def compose(self, claim: MessageClaim, lead: Lead, sequence: Sequence, now: datetime) -> OutgoingEmail:
        """The email for `claim`, or RenderError: nothing half-rendered ever comes out of here."""
        context, rendered = self.render(claim, lead, sequence, now)
        headers = list_unsubscribe_headers(context.unsubscribe_url, self.unsubscribe_mailto)
        if rendered.language:  # RFC 3282: what the email is written in (a translation was used)
            headers[CONTENT_LANGUAGE] = rendered.language
        return OutgoingEmail(
            from_=rendered.from_ or sequence.from_,
            to=lead.email,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            reply_to=rendered.reply_to or sequence.reply_to,
            headers=headers,
            tags=tags.message_tags(claim.lead_id, claim.sequence, claim.step, claim.key, claim.kind, claim.variant),
            configuration_set=self.configuration_set,
        )
