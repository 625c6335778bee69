"""Users, sessions, refresh tokens and API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from connectnow.repositories.base import Repository
from models.auth import ApiKeyRecord, RefreshTokenRecord, SessionRecord
from models.base import StoredModel, UtcDateTime
from models.users import UserRecord


class UserRepository(Repository[UserRecord]):
    collection_name = "users"
    model = UserRecord

    async def by_login(self, login: str) -> UserRecord | None:
        """A user by e-mail or username, case-insensitively."""
        key = login.strip().lower()
        field = "emailLower" if "@" in key else "usernameLower"
        return await self.find_one({field: key})

    async def by_username(self, username: str) -> UserRecord | None:
        return await self.find_one({"usernameLower": username.strip().lower()})

    async def by_usernames(self, usernames: list[str]) -> list[UserRecord]:
        keys = sorted({u.strip().lower() for u in usernames})
        return await self.find({"usernameLower": {"$in": keys}}) if keys else []

    def export_docs(self, only: list[str] | None, *, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        """Stored user documents (all, or `only` these ids) in sign-up order, for exports."""
        flt = {"id": {"$in": only}} if only is not None else {}
        return self.coll.iterate(flt, sort=[("createdAt", 1)], batch_size=batch_size)

    async def export_count(self, only: list[str] | None) -> int:
        return await self.count({"id": {"$in": only}} if only is not None else {})

    async def by_ids(self, ids: list[str]) -> list[UserRecord]:
        return await self.find({"id": {"$in": sorted(set(ids))}}) if ids else []


class SessionRepository(Repository[SessionRecord]):
    collection_name = "sessions"
    model = SessionRecord

    async def by_token_hash(self, token_hash: str) -> SessionRecord | None:
        return await self.find_one({"tokenHash": token_hash})

    async def active_for_user(self, user_id: str, now: datetime) -> list[SessionRecord]:
        return await self.find(
            {"userId": user_id, "revokedAt": None, "refreshExpiresAt": {"$gt": now}}, sort=[("createdAt", -1)]
        )

    async def revoke(self, session_ids: list[str], now: datetime, reason: str) -> int:
        """Revoke these sessions (those not revoked already); how many were."""
        flt = {"id": {"$in": session_ids}, "revokedAt": None}
        return await self.update_many(flt, {"$set": {"revokedAt": now, "revokedReason": reason}})

    async def live_for_user(self, user_id: str) -> list[SessionRecord]:
        return await self.find({"userId": user_id, "revokedAt": None})

    async def renew_access(
        self, session_id: str, token_hash: str, expires_at: datetime, now: datetime
    ) -> SessionRecord | None:
        """A refreshed access token for a session not revoked; None when it was revoked meanwhile."""
        fields = {"tokenHash": token_hash, "expiresAt": expires_at, "lastActiveAt": now}
        return await self.update({"id": session_id, "revokedAt": None}, {"$set": fields})


class RefreshTokenRepository(Repository[RefreshTokenRecord]):
    collection_name = "refresh_tokens"
    model = RefreshTokenRecord

    async def claim(self, token_hash: str, now: datetime) -> tuple[RefreshTokenRecord | None, bool]:
        """Mark a refresh token used. Returns (token, first_use); only one caller ever gets first_use."""
        claimed = await self.update({"tokenHash": token_hash, "firstUsedAt": None}, {"$set": {"firstUsedAt": now}})
        if claimed is not None:
            return claimed, True
        return await self.find_one({"tokenHash": token_hash}), False


class ApiKeyRepository(Repository[ApiKeyRecord]):
    collection_name = "api_keys"
    model = ApiKeyRecord

    async def by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        return await self.find_one({"keyHash": key_hash})

    async def deactivate(self, key_id: str, user_id: str, now: datetime) -> ApiKeyRecord | None:
        """Revoke one of the user's keys; None when it is not theirs."""
        return await self.update({"id": key_id, "userId": user_id}, {"$set": {"isActive": False, "revokedAt": now}})


class AccountTokenRecord(StoredModel):
    user_id: str
    purpose: str  # verify | reset
    token_hash: str
    expires_at: UtcDateTime
    used_at: UtcDateTime | None = None
    created_at: UtcDateTime


class AccountTokenRepository(Repository[AccountTokenRecord]):
    collection_name = "account_tokens"
    model = AccountTokenRecord

    async def use(self, token_hash: str, purpose: str, now: datetime) -> AccountTokenRecord | None:
        """Spend a live token once: None when unknown, used or expired."""
        flt = {"tokenHash": token_hash, "purpose": purpose, "usedAt": {"$exists": False}, "expiresAt": {"$gt": now}}
        return await self.update(flt, {"$set": {"usedAt": now}})
