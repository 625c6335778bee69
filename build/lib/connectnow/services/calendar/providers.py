"""Sync providers: where a calendar's events come from and go to.

Seed 004 syncs with Outlook and Google; neither is reachable from a self-hosted server, and their APIs
need OAuth apps. What every provider shares is an exchange of iCalendar data, so the interface is that:
`pull` brings a provider's events into a calendar and `push` renders a calendar for the provider. The ICS
provider (files and feed URLs) is the one implemented; an Outlook or Google provider would fill the seed's
provider fields (`outlookEventId`, `googleEventId`, `syncStatus`, `lastSynced`, `syncErrors`) the same way.
"""

from __future__ import annotations

from typing import Protocol

from connectnow.services.auth import Principal
from connectnow.services.calendar.ics import IcsService
from models.calendar import SyncLogPublic


class SyncProvider(Protocol):
    name: str

    async def pull(self, principal: Principal, calendar_id: str, data: bytes) -> SyncLogPublic: ...

    async def push(self, principal: Principal, calendar_id: str) -> bytes: ...


class IcsProvider:
    """iCalendar files: import is idempotent by UID, export is the calendar as RFC 5545 text."""

    name = "ics"

    def __init__(self, ics: IcsService) -> None:
        self.ics = ics

    async def pull(self, principal: Principal, calendar_id: str, data: bytes) -> SyncLogPublic:
        return await self.ics.import_ics(principal, calendar_id, data)

    async def push(self, principal: Principal, calendar_id: str) -> bytes:
        return await self.ics.export(principal, calendar_id)


def providers(ics: IcsService) -> dict[str, SyncProvider]:
    return {"ics": IcsProvider(ics)}
