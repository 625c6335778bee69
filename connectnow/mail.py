"""The outbound mail port: SMTP (aiosmtplib) in production, the log in development.

`CONNECTNOW_MAIL_TRANSPORT=smtp` sends through `CONNECTNOW_SMTP_HOST`:`CONNECTNOW_SMTP_PORT` (STARTTLS and
login when configured); `log` (the default) writes each message to the `connectnow.mail` logger instead, so a
developer can copy the link from the server log.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from connectnow.config import Settings

log = logging.getLogger("connectnow.mail")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body)
    return msg


class LogMailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, to: str, subject: str, body: str) -> None:
        log.warning("mail (log transport) to %s: %s\n%s", to, subject, body)


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        await aiosmtplib.send(
            _message(s.mail_from, to, subject, body),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )


def make_mailer(settings: Settings) -> Mailer:
    return SmtpMailer(settings) if settings.mail_transport == "smtp" else LogMailer(settings.mail_from)
