"""Transports: how one delivery leaves ConnectNow. Every transport has the same interface.

- `WebhookTransport`: an HTTP POST (httpx) of a JSON body to the owner's webhook, for SMS or e-mail
  gateways. The body is signed: `X-ConnectNow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>.<body>">` (the timestamp lets receivers refuse replays); `X-ConnectNow-Delivery` carries the
  delivery id so a receiver can drop the duplicate of a retried request it already handled.
- `InAppTransport`: a real chat message in a channel or direct conversation, posted through the chat core's
  message service as the scheduling user, so it is stored and fanned out like any other message.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
import orjson

from connectnow.services.broadcasts.webhooks import (
    SIGNATURE_HEADER,
    WebhookAddressRefused,
    WebhookService,
    pinned,
    resolve_checked,
)
from models.broadcasts import TargetKind, TargetRef
from models.contacts import ContactRecord

DELIVERY_HEADER = "X-ConnectNow-Delivery"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient, rendered."""

    delivery_id: str
    user_id: str
    source_kind: str
    source_id: str
    target: TargetRef
    text: str
    scheduled_for: datetime
    attempt: int
    contact: ContactRecord | None = None


class DeliveryFailed(Exception):
    """The attempt failed. `retryable`: trying again later may succeed (timeouts, 5xx, 429)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason[:MAX_ERROR_CHARS])
        self.reason = reason[:MAX_ERROR_CHARS]
        self.retryable = retryable


class Transport(Protocol):
    async def send(self, item: Outgoing) -> None:
        """Deliver or raise DeliveryFailed."""
        ...


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_body(item: Outgoing) -> bytes:
    contact = item.contact
    return orjson.dumps(
        {
            "deliveryId": item.delivery_id,
            "source": {"kind": item.source_kind, "id": item.source_id},
            "to": {
                "contactId": contact.id if contact else item.target.id,
                "name": contact.name if contact else None,
                "phoneNumber": contact.phone_number if contact else None,
                "email": contact.email if contact else None,
            },
            "text": item.text,
            "scheduledFor": item.scheduled_for.isoformat(),
            "attempt": item.attempt,
        }
    )


class WebhookTransport:
    def __init__(self, webhooks: WebhookService, client: httpx.AsyncClient, *, allow_private: bool) -> None:
        self.webhooks = webhooks
        self.client = client
        self.allow_private = allow_private

    async def send(self, item: Outgoing) -> None:
        target = await self.webhooks.target_for(item.user_id)
        if target is None:
            raise DeliveryFailed("no webhook is configured", retryable=False)
        try:
            # Checked again at send time (the name may resolve elsewhere now), and the request then goes to
            # exactly the address checked: the HTTP client never resolves the name itself.
            address = await resolve_checked(target.url, allow_private=self.allow_private)
        except WebhookAddressRefused:
            raise DeliveryFailed("the webhook address points to a private or local network", retryable=False) from None
        if address is None:
            raise DeliveryFailed("webhook unreachable: its host name does not resolve", retryable=True)
        url, host_header, extensions = pinned(target.url, address)
        body = webhook_body(item)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(target.secret, body, int(time.time())),
            DELIVERY_HEADER: item.delivery_id,
            **host_header,
        }
        try:
            response = await self.client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"webhook timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}: {exc}", retryable=True) from None
        if 200 <= response.status_code < 300:
            return
        retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES
        raise DeliveryFailed(f"webhook answered HTTP {response.status_code}", retryable=retryable)


class ChatPoster(Protocol):
    """What in-app delivery needs from the chat core: post a message as a user (authorization included)."""

    async def post_scheduled(
        self, user_id: str, kind: TargetKind, conversation_id: str, text: str, idempotency_key: str
    ) -> None: ...

    async def check_can_post(self, user_id: str, kind: TargetKind, conversation_id: str) -> None: ...


class InAppTransport:
    def __init__(self, poster: ChatPoster) -> None:
        self.poster = poster

    async def send(self, item: Outgoing) -> None:
        # The delivery id is the idempotency key: a retry after a lost answer cannot post twice.
        await self.poster.post_scheduled(item.user_id, item.target.kind, item.target.id, item.text, item.delivery_id)


def http_client(timeout_seconds: float) -> httpx.AsyncClient:
    # Redirects are not followed: a webhook redirected to an internal address would bypass the URL check.
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)
