"""Calendars subscribed to an ICS URL (issue 19), as Google Calendar's "From URL".

Subscribing creates a read-only calendar (`canEdit: false`) and a subscription that a leased job refreshes
every `refreshIntervalMinutes` (at least CONNECTNOW_CALENDAR_SUBSCRIPTION_MIN_INTERVAL_SECONDS). A refresh
fetches the URL through the same SSRF guard as broadcast webhooks (connectnow/outbound.py: the host resolved
once, every address public, the connection pinned to the checked address), with a time bound and a body bound
(CONNECTNOW_CALENDAR_ICS_MAX_BYTES, counted while reading), no redirects, and a conditional GET (If-None-Match /
If-Modified-Since from the last answer). A new body goes through the bounded ICS import, all or nothing, with
`prune` (events gone from the feed go) and a sync log (`syncType: "ics_subscription"`). Every outcome is recorded
on the subscription (`lastStatus`, `lastError`, `lastErrorCode`, `consecutiveFailures`), shown over REST.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.outbound import AddressRefused, pinned, resolve_checked
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.calendar_subscriptions import SubscriptionRepository
from connectnow.services.auth import Principal
from connectnow.services.calendar.calendars import CalendarService
from connectnow.services.calendar.ics import IcsService
from connectnow.services.leases import LeaseSpec, LeaseWorker
from connectnow.store.port import Document, DocumentStore
from models.calendar import CalendarCreate
from models.calendar_subscriptions import (
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionRecord,
    SubscriptionStatus,
)

log = logging.getLogger("connectnow.calendar.subscriptions")

SUBSCRIPTION_SPEC = LeaseSpec(
    status_field="status",
    ready_statuses=(SubscriptionStatus.ACTIVE.value,),
    running_status=SubscriptionStatus.FETCHING.value,
    due_field="nextFetchAt",
)
MAX_SUBSCRIPTIONS_PER_USER = 20
MAX_ERROR_CHARS = 300
MAX_FAILURE_BACKOFF_SECONDS = 24 * 3600  # a feed that keeps failing is still tried once a day
USER_AGENT = "ConnectNow-Calendar/1 (+ICS subscription)"


def next_refresh_delay(interval_seconds: int, consecutive_failures: int) -> int:
    """Seconds to the next refresh: the interval, doubled for each failure in a row after the first (a broken
    feed is not hammered), at most a day unless the interval itself is longer."""
    if consecutive_failures <= 1:
        return interval_seconds
    doubled = interval_seconds * 2 ** min(consecutive_failures - 1, 16)
    return min(doubled, max(interval_seconds, MAX_FAILURE_BACKOFF_SECONDS))


@dataclass(frozen=True)
class FetchPolicy:
    min_interval_seconds: int
    timeout_seconds: float
    max_bytes: int
    allow_private: bool


@dataclass
class Fetched:
    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None


def subscription_public(record: SubscriptionRecord) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(
        {**record.model_dump(), "refresh_interval_minutes": record.interval_seconds // 60 or 1}
    )


def _failed(message: str, **details: object) -> AppError:
    return AppError(errors.SUBSCRIPTION_FETCH_FAILED, message, details=details or None)


async def fetch_ics(url: str, policy: FetchPolicy, etag: str | None, last_modified: str | None) -> Fetched:
    """One guarded, bounded, conditional GET."""
    try:
        address = await resolve_checked(url, allow_private=policy.allow_private)
    except AddressRefused:
        raise AppError(errors.CALENDAR_URL_FORBIDDEN, details={"url": url}) from None
    if address is None:
        raise _failed("The host name does not resolve")
    target, headers, extensions = pinned(url, address)
    headers = {**headers, "User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    client = httpx.AsyncClient(timeout=httpx.Timeout(policy.timeout_seconds), follow_redirects=False, trust_env=False)
    try:
        # One bound for the whole exchange: httpx's timeouts are per read, and a server could drip bytes.
        async with (
            asyncio.timeout(policy.timeout_seconds),
            client,
            client.stream("GET", target, headers=headers, extensions=extensions) as answer,
        ):
            if answer.status_code == 304:
                return Fetched(304, None, etag, last_modified)
            if answer.status_code != 200:
                raise _failed(f"The server answered HTTP {answer.status_code}", httpStatus=answer.status_code)
            body = await _read_bounded(answer, policy.max_bytes)
            return Fetched(200, body, answer.headers.get("etag"), answer.headers.get("last-modified"))
    except TimeoutError:
        raise _failed(f"No complete answer within {policy.timeout_seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise _failed(f"Fetching failed: {type(exc).__name__}") from None


async def _read_bounded(answer: httpx.Response, max_bytes: int) -> bytes:
    declared = answer.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise AppError(errors.ICS_TOO_LARGE, details={"maxBytes": max_bytes})
    chunks, size = [], 0
    async for chunk in answer.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise AppError(errors.ICS_TOO_LARGE, details={"maxBytes": max_bytes})
        chunks.append(chunk)
    return b"".join(chunks)


class SubscriptionService:
    def __init__(
        self, store: DocumentStore, calendars: CalendarService, ics: IcsService, policy: FetchPolicy, *, poll: float
    ) -> None:
        self.subscriptions = SubscriptionRepository(store)
        self.users = UserRepository(store)
        self.calendars = calendars
        self.ics = ics
        self.policy = policy
        lease = policy.timeout_seconds * 3 + 30  # a fetch, a parse and an import fit well inside
        self.queue = self.subscriptions.lease_queue(SUBSCRIPTION_SPEC, lease_seconds=lease)
        self.worker = LeaseWorker("calendar-subscriptions", self.queue, self.handle, poll_seconds=poll)

    # --- the owner's side ------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: SubscriptionCreate) -> SubscriptionPublic:
        interval = data.refresh_interval_minutes * 60
        if interval < self.policy.min_interval_seconds:
            raise AppError(
                errors.VALIDATION_FAILED,
                f"refreshIntervalMinutes must be at least {self.policy.min_interval_seconds / 60:g}",
                details={"minSeconds": self.policy.min_interval_seconds},
            )
        if len(await self.subscriptions.of_user(principal.user_id, MAX_SUBSCRIPTIONS_PER_USER)) >= (
            MAX_SUBSCRIPTIONS_PER_USER
        ):
            raise AppError(errors.CONFLICT, f"At most {MAX_SUBSCRIPTIONS_PER_USER} subscriptions per user")
        try:
            await resolve_checked(data.url, allow_private=self.policy.allow_private)  # refuse early; checked again
        except AddressRefused:
            raise AppError(errors.CALENDAR_URL_FORBIDDEN, details={"url": data.url}) from None
        calendar = await self.calendars.create(
            principal, CalendarCreate.model_validate({"name": data.name, "color": data.color, "canEdit": False})
        )
        now = utcnow()
        record = SubscriptionRecord(
            id=new_id(), user_id=principal.user_id, calendar_id=calendar.id, url=data.url,
            interval_seconds=interval, next_fetch_at=now, created_at=now,
        )  # fmt: skip
        await self.subscriptions.insert(record)
        self.worker.wake()
        return subscription_public(record)

    async def owned(self, principal: Principal, subscription_id: str) -> SubscriptionRecord:
        record = await self.subscriptions.owned(principal.user_id, subscription_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such subscription")
        return record

    async def get(self, principal: Principal, subscription_id: str) -> SubscriptionPublic:
        return subscription_public(await self.owned(principal, subscription_id))

    async def list_all(self, principal: Principal) -> list[SubscriptionPublic]:
        return [subscription_public(r) for r in await self.subscriptions.of_user(principal.user_id, 100)]

    async def refresh_soon(self, principal: Principal, subscription_id: str) -> SubscriptionPublic:
        """Fetch at the next scheduler round (a running fetch finishes first)."""
        record = await self.owned(principal, subscription_id)
        updated = await self.subscriptions.due_now_if_active(record.id, utcnow())
        self.worker.wake()
        return subscription_public(updated or record)

    async def delete(self, principal: Principal, subscription_id: str) -> None:
        """The subscription and its calendar (with the events it brought) go."""
        record = await self.owned(principal, subscription_id)
        await self.subscriptions.delete({"id": record.id})
        if await self.calendars.calendars.get(record.calendar_id) is not None:
            await self.calendars.delete(principal, record.calendar_id)

    # --- the refresh job -------------------------------------------------------------------------------
    async def handle(self, item: Document, worker_id: str) -> None:
        record = SubscriptionRecord.model_validate(item)
        calendar = await self.calendars.calendars.get(record.calendar_id)
        owner = await self.users.get(record.user_id)
        if calendar is None or owner is None:
            await self.subscriptions.delete({"id": record.id})  # its calendar or account was deleted
            return
        now = utcnow()
        fields: dict[str, object] = {"lastFetchedAt": now}
        failures = 0
        try:
            fetched = await fetch_ics(record.url, self.policy, record.etag, record.last_modified)
            if fetched.body is not None:
                await self.ics.import_into(
                    Principal(user=owner), calendar, fetched.body, prune=True, sync_type="ics_subscription"
                )
            fields.update(lastStatus="updated" if fetched.body is not None else "notModified", lastSuccessAt=now,
                          lastError=None, lastErrorCode=None, consecutiveFailures=0, etag=fetched.etag,
                          lastModified=fetched.last_modified)  # fmt: skip
        except AppError as exc:
            log.warning("subscription %s refresh failed: %s %s", record.id, exc.code, exc.message)
            failures = record.consecutive_failures + 1
            fields.update(lastStatus="error", lastError=exc.message[:MAX_ERROR_CHARS], lastErrorCode=exc.code,
                          consecutiveFailures=failures)  # fmt: skip
        when = now + timedelta(seconds=next_refresh_delay(record.interval_seconds, failures))
        await self.queue.retry_at(record.id, worker_id, when, {**fields, "attempts": 0})
