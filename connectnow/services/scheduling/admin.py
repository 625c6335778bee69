"""Administrators only: calendar connections (provider tokens encrypted) and system settings (values
encrypted when flagged). Tokens never leave the server once stored."""

from __future__ import annotations

from typing import Any

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.crypto import KeyRing
from connectnow.errors import AppError
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.scheduling import CalendarConnectionRepository, SystemSettingRepository
from connectnow.services.scheduling.access import Actor, require_admin
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.retention import check_setting as check_retention_setting
from connectnow.services.scheduling.rules import as_utc
from connectnow.services.scheduling.sealing import seal, unseal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.scheduling_ops import (
    CalendarConnectionCreate,
    CalendarConnectionPublic,
    CalendarConnectionRecord,
    SystemSettingPublic,
    SystemSettingRecord,
    SystemSettingUpdate,
)

MAX_SETTING_BYTES = 16 * 1024


def connection_public(record: CalendarConnectionRecord) -> CalendarConnectionPublic:
    data = record.model_dump(exclude={"access_token", "refresh_token"})
    return CalendarConnectionPublic(**data, has_access_token=True, has_refresh_token=record.refresh_token is not None)


class SchedulingAdminService:
    def __init__(self, store: DocumentStore, ring: KeyRing, audit: AuditService) -> None:
        self.connections = CalendarConnectionRepository(store)
        self.settings = SystemSettingRepository(store)
        self.users = UserRepository(store)
        self.ring = ring
        self.audit = audit

    # --- calendar connections -------------------------------------------------------------------------
    async def add_connection(self, actor: Actor, body: CalendarConnectionCreate) -> CalendarConnectionPublic:
        require_admin(actor)
        if await self.users.get(body.user_id) is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        now = utcnow()
        conn_id = new_id()
        record = CalendarConnectionRecord(
            id=conn_id,
            user_id=body.user_id,
            provider=body.provider,
            provider_user_id=body.provider_user_id,
            access_token=seal(self.ring, body.access_token, "calendar_connections", conn_id, "accessToken"),
            refresh_token=(
                seal(self.ring, body.refresh_token, "calendar_connections", conn_id, "refreshToken")
                if body.refresh_token
                else None
            ),
            token_expires_at=as_utc(body.token_expires_at) if body.token_expires_at else None,
            is_active=body.is_active,
            created_at=now,
            updated_at=now,
        )
        await self.connections.insert(record)
        await self.audit.record(actor, "calendarConnection.create", "calendarConnection", conn_id)
        return connection_public(record)

    async def list_connections(self, actor: Actor, user_id: str | None) -> list[CalendarConnectionPublic]:
        require_admin(actor)
        rows = await self.connections.find({"userId": user_id} if user_id else {}, sort=[("createdAt", 1)], limit=500)
        await self.audit.record(actor, "calendarConnection.list", "calendarConnection")
        return [connection_public(r) for r in rows]

    async def delete_connection(self, actor: Actor, conn_id: str) -> None:
        require_admin(actor)
        if not await self.connections.delete({"id": conn_id}):
            raise AppError(errors.NOT_FOUND, "No such calendar connection")
        await self.audit.record(actor, "calendarConnection.delete", "calendarConnection", conn_id)

    async def connection_tokens(self, conn_id: str) -> tuple[str, str | None]:
        """For provider sync code inside the server: the decrypted tokens (never sent to clients)."""
        record = await self.connections.get(conn_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such calendar connection")
        access = unseal(self.ring, record.access_token, "calendar_connections", conn_id, "accessToken")
        refresh = (
            unseal(self.ring, record.refresh_token, "calendar_connections", conn_id, "refreshToken")
            if record.refresh_token
            else None
        )
        await self.audit.record(None, "calendarConnection.tokens", "calendarConnection", conn_id)
        return access, refresh

    # --- system settings ------------------------------------------------------------------------------
    def _setting_public(self, record: SystemSettingRecord) -> SystemSettingPublic:
        value = record.value
        if record.is_encrypted and record.encrypted_value is not None:
            value = unseal(self.ring, record.encrypted_value, "system_settings", record.id, "encryptedValue")
        return SystemSettingPublic(
            key=record.key,
            value=value,
            description=record.description,
            is_encrypted=record.is_encrypted,
            updated_by=record.updated_by,
            updated_at=record.updated_at,
        )

    async def put_setting(self, actor: Actor, key: str, body: SystemSettingUpdate) -> SystemSettingPublic:
        require_admin(actor)
        import orjson

        check_retention_setting(key, body.value, body.is_encrypted)
        if len(orjson.dumps(body.value)) > MAX_SETTING_BYTES:
            raise AppError(errors.PAYLOAD_TOO_LARGE, f"A setting value is limited to {MAX_SETTING_BYTES} bytes")
        now = utcnow()
        existing = await self.settings.by_key(key)
        setting_id = existing.id if existing else new_id()
        fields: dict[str, Any] = {
            "description": body.description,
            "isEncrypted": body.is_encrypted,
            "updatedBy": actor.user_id,
            "updatedAt": now,
            "value": None if body.is_encrypted else body.value,
            "encryptedValue": (
                seal(self.ring, body.value, "system_settings", setting_id, "encryptedValue")
                if body.is_encrypted
                else None
            ),
        }
        if existing is None:
            record = SystemSettingRecord(id=setting_id, key=key, created_at=now, **{k: v for k, v in fields.items()})
            try:
                await self.settings.insert(record)
            except DuplicateKeyError as exc:
                raise AppError(errors.CONFLICT, "The setting was created meanwhile; retry") from exc
        else:
            updated = await self.settings.set_fields(existing.id, fields)
            assert updated is not None
            record = updated
        await self.audit.record(actor, "systemSetting.update", "systemSetting", key)
        return self._setting_public(record)

    async def get_setting(self, actor: Actor, key: str) -> SystemSettingPublic:
        require_admin(actor)
        record = await self.settings.by_key(key)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such setting")
        await self.audit.record(actor, "systemSetting.read", "systemSetting", key)
        return self._setting_public(record)

    async def list_settings(self, actor: Actor) -> list[SystemSettingPublic]:
        require_admin(actor)
        rows = await self.settings.find({}, sort=[("key", 1)], limit=500)
        await self.audit.record(actor, "systemSetting.list", "systemSetting")
        return [self._setting_public(r) for r in rows]
