"""The services exactly as the node builds them (connectnow.node.build_services), on a test's own store and hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields

from connectnow.config import Settings
from connectnow.node import Parts, Services, build_services
from connectnow.realtime.hub import Hub
from connectnow.realtime.presence_memory import MemoryPresence
from connectnow.realtime.ratelimit import RateLimiter, RateRule, RateRules
from connectnow.realtime.ratelimit_memory import MemoryRateLimiter
from connectnow.security import Secrets
from connectnow.store.port import DocumentStore

_UNLIMITED = 1_000_000


def unlimited() -> MemoryRateLimiter:
    """Per-user buckets no test fills: for tests about other rules than rate limits."""
    return MemoryRateLimiter(RateRules(**{f.name: RateRule(f.name, _UNLIMITED, _UNLIMITED) for f in fields(RateRules)}))


@asynccontextmanager
async def built_services(
    store: DocumentStore, settings: Settings, hub: Hub, *, limiter: RateLimiter | None = None
) -> AsyncIterator[Services]:
    """Every service, wired by the one builder; background workers are not started (a test starts the ones
    it is about). `limiter`: the settings' rules unless given."""
    if limiter is None:
        limiter = MemoryRateLimiter(RateRules.from_settings(settings))
    services = build_services(Parts(settings, store, hub, limiter, Secrets(settings), MemoryPresence()))
    try:
        yield services
    finally:
        await services.broadcasts.client.aclose()
