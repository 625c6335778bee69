"""Per-user outbound webhook settings: where contact deliveries are POSTed, and the signing secret.

The secret is never stored. It is HMAC-SHA256(server secret key, "broadcast-webhook:{userId}:{nonce}"), so a
database dump does not reveal it; rotating it changes the nonce. A user without a webhook falls back to the
server-wide CONNECTNOW_BROADCAST_WEBHOOK_URL / _SECRET when those are set.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.repositories.broadcasts import WebhookRepository
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.broadcasts import WebhookPublic, WebhookRecord, WebhookSet

SIGNATURE_HEADER = "X-ConnectNow-Signature"
LOCAL_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: bytes


# Prefixes that carry an IPv4 address inside IPv6: through a NAT64 gateway, a 6to4 relay or the deprecated
# IPv4-compatible form, they reach whatever IPv4 address they embed, so none of them counts as public.
_EMBEDDING_IPV4 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96"))


class WebhookAddressRefused(Exception):
    """The webhook's host is, or resolves to, an address a webhook may not reach."""


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global unicast, and for IPv6 no form that embeds an IPv4 address (mapped, compatible, NAT64, 6to4,
    Teredo): those lead wherever their IPv4 part says, loopback included."""
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped or address.teredo or any(address in net for net in _EMBEDDING_IPV4)
    ):
        return False
    return address.is_global and not address.is_multicast


def host_is_private(url: str) -> bool:
    """A literal loopback, private, link-local or reserved address, or a local host name."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host or host in LOCAL_HOSTNAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return not address_is_public(address)


async def resolve_checked(url: str, *, allow_private: bool) -> str | None:
    """The one address a request to `url` must connect to, checked; None when the name does not resolve.

    Resolving once and connecting to that very address (see `pinned`) is what stops DNS rebinding: a second
    lookup by the HTTP client could answer a private address after this one answered a public one.
    """
    if not allow_private and host_is_private(url):
        raise WebhookAddressRefused(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").split("%")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        return None
    if not allow_private and not all(address_is_public(a) for a in addresses):
        raise WebhookAddressRefused(url)
    return str(addresses[0])


async def resolves_private(url: str) -> bool:
    """True when the host is private (literally) or any address it resolves to is not public. An unresolvable
    host is not refused here: the delivery will fail (and be retried) when it cannot connect."""
    try:
        await resolve_checked(url, allow_private=False)
    except WebhookAddressRefused:
        return True
    return False


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """`url` rewritten to connect to `address`, with the Host header and TLS server name (SNI, and the
    certificate check) still those of the original host."""
    original = httpx.URL(url)
    # The ASCII (IDNA) form: what TLS sends as the server name and checks the certificate against.
    extensions = {"sni_hostname": original.raw_host.decode("ascii")} if original.scheme == "https" else {}
    # Connection: close: the client's pool is keyed by the address, so a kept-alive TLS connection made (and
    # certificate-checked) for one host name would otherwise carry the next request for another name there.
    headers = {"Host": original.netloc.decode("ascii"), "Connection": "close"}
    return str(original.copy_with(host=address)), headers, extensions


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
