"""Sessions, refresh tokens (seed 002 SESSIONS; seed 000 authSessions, authRefreshTokens) and API keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from models.base import InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.users import UserMe

TokenText = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class SessionRecord(StoredModel):
    """One login on one device. The refresh-token family of a session dies with it."""

    user_id: str
    token_hash: str
    expires_at: UtcDateTime
    refresh_expires_at: UtcDateTime
    user_agent: str | None = None
    ip_address: str | None = None
    created_at: UtcDateTime
    last_active_at: UtcDateTime
    revoked_at: UtcDateTime | None = None
    revoked_reason: str | None = None


class RefreshTokenRecord(StoredModel):
    session_id: str
    user_id: str
    token_hash: str
    expires_at: UtcDateTime
    first_used_at: UtcDateTime | None = None
    parent_id: str | None = None
    created_at: UtcDateTime


class ApiKeyRecord(StoredModel):
    user_id: str
    name: str
    key_hash: str
    prefix: str
    is_active: bool = True
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None = None
    revoked_at: UtcDateTime | None = None


class TokenPair(WireModel):
    access_token: str
    refresh_token: str
    expires_at: UtcDateTime
    refresh_expires_at: UtcDateTime
    session_id: str
    user: UserMe


class RefreshIn(InputModel):
    refresh_token: TokenText


class SessionPublic(WireModel):
    id: str
    user_agent: str | None = None
    ip_address: str | None = None
    created_at: UtcDateTime
    last_active_at: UtcDateTime
    expires_at: UtcDateTime
    current: bool = False


class ApiKeyCreate(InputModel):
    name: Annotated[str, Text(1, 64)]


class ApiKeyPublic(WireModel):
    id: str
    name: str
    prefix: str
    is_active: bool
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None = None
    revoked_at: UtcDateTime | None = None


class ApiKeyCreated(ApiKeyPublic):
    key: str
