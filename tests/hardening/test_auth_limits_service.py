"""Issue 14, service level on both adapters: a refresh refused by the per-account limit does not use up its
refresh token (the retry after Retry-After succeeds instead of being taken for a replay)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectnow import errors
from connectnow.cli import _NoSockets
from connectnow.errors import AppError
from connectnow.identity import ClientInfo
from connectnow.realtime.ratelimit import AuthRules, RateRules
from connectnow.realtime.ratelimit_memory import MemoryRateLimiter
from connectnow.security import Secrets
from connectnow.services.auth import AuthService
from connectnow.services.auth_limits import AuthThrottle
from connectnow.store.port import DocumentStore
from models.users import RegisterIn
from tests.conftest import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_refused_refresh_keeps_its_token(store: DocumentStore, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_auth_account_burst=2, rate_auth_account_per_second=0.1)
    clock = Clock()
    limiter = MemoryRateLimiter(RateRules.from_settings(settings), clock=clock)
    auth = AuthService(
        store, Secrets(settings), settings, _NoSockets(), AuthThrottle(limiter, AuthRules.from_settings(settings))
    )
    client = ClientInfo(user_agent="test", ip_address="198.51.100.1")
    body = {"email": "r@example.com", "username": "refresher", "displayName": "R", "password": "long enough pw"}
    pair = await auth.register(RegisterIn.model_validate(body), client)
    token = (await auth.refresh(pair.refresh_token, client)).refresh_token
    token = (await auth.refresh(token, client)).refresh_token
    with pytest.raises(AppError) as refused:
        await auth.refresh(token, client)
    assert refused.value.code == errors.RATE_LIMITED.code and refused.value.retry_after is not None
    clock.now += refused.value.retry_after + 0.01
    renewed = await auth.refresh(token, client)  # not AUTH_REFRESH_REUSED: the refused call claimed nothing
    assert renewed.session_id == pair.session_id
