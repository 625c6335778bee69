"""The outbound mail port: SMTP (aiosmtplib) in production, the log in development.

`CONNECTNOW_MAIL_TRANSPORT=smtp` sends through `CONNECTNOW_SMTP_HOST`:`CONNECTNOW_SMTP_PORT` (STARTTLS and
login when configured); `log` (the default) writes each message to the `connectnow.mail` logger instead, so a
developer can copy the link from the server log.

Attachments (calendar invitations) ride along as extra parts; an ICS carries its iTIP method on the part's
content type (`text/calendar; method=REQUEST`), as mail clients expect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from connectnow.config import Settings

log = logging.getLogger("connectnow.mail")


@dataclass(frozen=True)
class Attachment:
    """A text part: `subtype` under text/ (e.g. "calendar"), extra content-type `params` (e.g. method)."""

    filename: str
    subtype: str
    content: str
    params: dict[str, str] | None = None


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None: ...


def _message(sender: str, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body)
    for part in attachments:
        msg.add_attachment(part.content, subtype=part.subtype, filename=part.filename, params=part.params or {})
    return msg


class LogMailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        names = ", ".join(a.filename for a in attachments)
        log.warning(
            "mail (log transport) to %s: %s\n%s%s", to, subject, body, f"\n[attached: {names}]" if names else ""
        )


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        s = self.settings
        await aiosmtplib.send(
            _message(s.mail_from, to, subject, body, attachments),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )


def make_mailer(settings: Settings) -> Mailer:
    return SmtpMailer(settings) if settings.mail_transport == "smtp" else LogMailer(settings.mail_from)
