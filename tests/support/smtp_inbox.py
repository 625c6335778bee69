"""A real SMTP server (aiosmtpd) on localhost that keeps what it accepts, and can refuse on demand.

`defer` answers the next N DATA commands with a temporary failure (451), `reject` refuses recipients for good
(550 at RCPT): the server's mail outbox must retry the first and give up on the second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.redis_server import free_port


@dataclass
class Delivered:
    to: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = next(p for p in self.message.walk() if p.get_content_type() == "text/plain")
        payload = part.get_payload(decode=True)
        return payload.decode() if isinstance(payload, bytes) else ""

    def calendar_part(self) -> Message:
        return next(p for p in self.message.walk() if p.get_content_type() == "text/calendar")


@dataclass
class Inbox:
    mails: list[Delivered] = field(default_factory=list)
    defer: int = 0  # the next N messages get 451 (try again later)
    deferred: int = 0
    reject: set[str] = field(default_factory=set)  # recipients refused for good

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.reject:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.defer > 0:
            self.defer -= 1
            self.deferred += 1
            return "451 4.3.0 try again later"
        self.mails.append(Delivered(list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Delivered]:
        return [m for m in self.mails if address in m.to]

    async def wait_for(self, predicate: Callable[[Delivered], bool], timeout: float = 20.0) -> Delivered:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = next((m for m in self.mails if predicate(m)), None)
            if found is not None:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such mail within {timeout}s; got {[(m.to, m.subject) for m in self.mails]}")


@contextmanager
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
