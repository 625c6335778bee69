"""Per-user outbound webhook settings: where contact deliveries are POSTed, and the signing secret.

The secret is never stored. It is HMAC-SHA256(server secret key, "broadcast-webhook:{userId}:{nonce}"), so a
database dump does not reveal it; rotating it changes the nonce. A user without a webhook falls back to the
server-wide CONNECTNOW_BROADCAST_WEBHOOK_URL / _SECRET when those are set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.outbound import (  # the shared SSRF guard; re-exported for the webhook code and its tests
    AddressRefused,
    address_is_public,
    host_is_private,
    pinned,
    resolve_checked,
    resolves_private,
)
from connectnow.repositories.broadcasts import WebhookRepository
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.broadcasts import WebhookPublic, WebhookRecord, WebhookSet

SIGNATURE_HEADER = "X-ConnectNow-Signature"
WebhookAddressRefused = AddressRefused
__all__ = [
    "SIGNATURE_HEADER", "WebhookAddressRefused", "WebhookService", "WebhookTarget", "address_is_public",
    "host_is_private", "pinned", "resolve_checked", "resolves_private",
]  # fmt: skip


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: bytes


class WebhookService:
    def __init__(self, store: DocumentStore, settings: Settings) -> None:
        self.webhooks = WebhookRepository(store)
        self.settings = settings

    def _secret(self, user_id: str, nonce: str) -> bytes:
        message = f"broadcast-webhook:{user_id}:{nonce}".encode()
        return hmac.new(self.settings.secret_bytes, message, hashlib.sha256).digest()

    def _public(self, record: WebhookRecord) -> WebhookPublic:
        secret = base64.urlsafe_b64encode(self._secret(record.user_id, record.secret_nonce)).decode().rstrip("=")
        return WebhookPublic(
            url=record.url, secret=secret, signature_header=SIGNATURE_HEADER, updated_at=record.updated_at
        )

    async def set(self, principal: Principal, data: WebhookSet) -> WebhookPublic:
        if not self.settings.broadcast_webhook_allow_private and await resolves_private(data.url):
            raise AppError(errors.WEBHOOK_URL_FORBIDDEN, details={"url": data.url})
        now = utcnow()
        existing = await self.webhooks.of_user(principal.user_id)
        if existing is None:
            fresh = WebhookRecord(
                id=new_id(),
                user_id=principal.user_id,
                url=data.url,
                secret_nonce=secrets.token_hex(16),
                created_at=now,
                updated_at=now,
            )
            try:
                return self._public(await self.webhooks.insert(fresh))
            except DuplicateKeyError:
                pass  # set concurrently by another request: update it below
        changes: dict[str, object] = {"url": data.url, "updatedAt": now}
        if data.rotate_secret:
            changes["secretNonce"] = secrets.token_hex(16)
        await self.webhooks.set_for_user(principal.user_id, changes)
        record = await self.webhooks.of_user(principal.user_id)
        assert record is not None
        return self._public(record)

    async def get(self, principal: Principal) -> WebhookPublic:
        record = await self.webhooks.of_user(principal.user_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No webhook is set")
        return self._public(record)

    async def delete(self, principal: Principal) -> None:
        if not await self.webhooks.delete({"userId": principal.user_id}):
            raise AppError(errors.NOT_FOUND, "No webhook is set")

    async def target_for(self, user_id: str) -> WebhookTarget | None:
        record = await self.webhooks.of_user(user_id)
        if record is not None:
            return WebhookTarget(record.url, self._secret(user_id, record.secret_nonce))
        if self.settings.broadcast_webhook_url:
            configured = self.settings.broadcast_webhook_secret
            key = configured.get_secret_value().encode() if configured else self._secret("server", "default")
            return WebhookTarget(self.settings.broadcast_webhook_url, key)
        return None
