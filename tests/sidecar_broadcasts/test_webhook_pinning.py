"""Issue 14: webhook requests go to the very address that was checked; IPv4-embedding IPv6 forms are refused."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.services.broadcasts.transports import DeliveryFailed, Outgoing, WebhookTransport
from connectnow.services.broadcasts.webhooks import WebhookService, address_is_public, host_is_private, pinned
from connectnow.store.port import DocumentStore
from models.broadcasts import TargetKind, TargetRef, WebhookSet
from tests.conftest import make_settings
from tests.sidecar_broadcasts.conftest import MakeUser
from tests.sidecar_broadcasts.receiver import Receiver


def outgoing(user_id: str) -> Outgoing:
    """One contact delivery of a user's scheduled message."""
    return Outgoing(
        delivery_id=new_id(),
        user_id=user_id,
        source_kind="scheduled",
        source_id=new_id(),
        target=TargetRef(kind=TargetKind.CONTACT, id=new_id()),
        text="hi",
        scheduled_for=utcnow(),
        attempt=1,
    )


EMBEDDING_LOOPBACK = [
    "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
    "64:ff9b:1::7f00:1",  # local-use NAT64 (RFC 8215)
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:5db8:d822::1",  # 6to4 of a public address: still refused, it is an IPv4 relay
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]


@pytest.mark.parametrize("address", EMBEDDING_LOOPBACK)
async def test_ipv4_embedding_ipv6_forms_are_refused(
    address: str, store: DocumentStore, tmp_path: Path, make_user: MakeUser
) -> None:
    assert not address_is_public(ipaddress.ip_address(address))
    assert host_is_private(f"http://[{address}]:8080/hook")
    service = WebhookService(store, make_settings(tmp_path))
    with pytest.raises(AppError) as caught:
        await service.set(await make_user(), WebhookSet.model_validate({"url": f"http://[{address}]/hook"}))
    assert caught.value.code == "WEBHOOK_URL_FORBIDDEN"


def test_plain_global_ipv6_is_public() -> None:
    assert address_is_public(ipaddress.ip_address("2606:4700:4700::1111"))


@pytest.mark.parametrize(
    "url",
    ["http://" + "a" * 64 + ".example.com/hook", "http://a..b/hook", "http://[::1/hook", "http://x.example:99999/"],
)
def test_unusable_hosts_are_a_validation_error_not_a_crash(url: str) -> None:
    with pytest.raises(ValidationError):
        WebhookSet.model_validate({"url": url})


def test_pinned_keeps_host_and_tls_name() -> None:
    url, headers, extensions = pinned("https://Hooks.Example.com:8443/in?x=1", "2606:4700::1")
    assert url == "https://[2606:4700::1]:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443", "Connection": "close"} and extensions == {
        "sni_hostname": "hooks.example.com"
    }
    _url, headers, extensions = pinned("https://bücher.example/in", "93.184.216.34")
    assert headers["Host"] == "xn--bcher-kva.example" and extensions == {"sni_hostname": "xn--bcher-kva.example"}


async def test_delivery_connects_to_the_checked_address_without_a_second_lookup(
    store: DocumentStore, tmp_path: Path, make_user: MakeUser, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer passes the check, later answers point elsewhere. Only one lookup may
    happen, and the request must reach the first answer."""
    loop = asyncio.get_running_loop()
    lookups: list[str] = []

    async def rebinding_dns(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        ip = "127.0.0.1" if len(lookups) == 1 else "10.255.255.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding_dns)
    # Private addresses allowed so the local receiver can stand in for a public gateway.
    webhooks = WebhookService(store, make_settings(tmp_path, broadcast_webhook_allow_private=True))
    alice = await make_user()
    url = f"http://rebind.example:{receiver.port}/ok"
    await webhooks.set(alice, WebhookSet.model_validate({"url": url}))
    lookups.clear()
    item = outgoing(alice.user_id)
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        await WebhookTransport(webhooks, client, allow_private=True).send(item)
        assert lookups == ["rebind.example"]
        assert [(r.path, r.host) for r in receiver.answered] == [("/ok", f"rebind.example:{receiver.port}")]

        # Strict mode: the same name now answers a private address and is refused before any connection.
        lookups.clear()
        with pytest.raises(DeliveryFailed) as failed:
            await WebhookTransport(webhooks, client, allow_private=False).send(item)
        assert not failed.value.retryable and "private" in failed.value.reason
        assert len(receiver.requests) == 1


def self_signed(host: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for `host` (and its key), trusted by nothing but the client built from it."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_to_a_pinned_address_still_checks_the_hosts_certificate(
    store: DocumentStore, tmp_path: Path, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request goes to the checked IP, yet TLS sends the host name (SNI) and verifies the certificate for
    it: a certificate for the name passes, and the same server reached under another name fails."""
    import ssl

    from aiohttp import web

    cert, key = self_signed("hooks.test", tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Host", ""))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def local_dns(host: str, port_: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port_))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", local_dns)
    webhooks = WebhookService(store, make_settings(tmp_path, broadcast_webhook_allow_private=True))
    alice = await make_user()
    item = outgoing(alice.user_id)
    client_tls = ssl.create_default_context(cafile=str(cert))
    try:
        async with httpx.AsyncClient(timeout=10, verify=client_tls) as client:
            transport = WebhookTransport(webhooks, client, allow_private=True)
            await webhooks.set(alice, WebhookSet.model_validate({"url": f"https://hooks.test:{port}/hook"}))
            await transport.send(item)
            assert seen == [f"hooks.test:{port}"]
            await webhooks.set(alice, WebhookSet.model_validate({"url": f"https://other.test:{port}/hook"}))
            with pytest.raises(DeliveryFailed) as failed:
                await transport.send(item)
            assert "certificate" in failed.value.reason.lower() and len(seen) == 1, failed.value.reason
    finally:
        await runner.cleanup()
