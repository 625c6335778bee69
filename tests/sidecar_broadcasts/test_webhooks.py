"""Webhook settings on both adapters: private addresses, secrets never stored, rotation, fallback."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectnow.errors import AppError
from connectnow.services.broadcasts.webhooks import WebhookService, host_is_private, resolves_private
from connectnow.services.broadcasts.wiring import Broadcasts, build_broadcasts
from connectnow.store.port import DocumentStore
from models.broadcasts import WebhookSet
from tests.conftest import make_settings
from tests.sidecar_broadcasts.conftest import MakeUser, RecordingHub
from tests.sidecar_broadcasts.helpers import add_contact, drain, make_due, schedule_input


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1:8080/x", True),
        ("http://localhost/x", True),
        ("http://api.localhost/x", True),
        ("http://10.1.2.3/x", True),
        ("http://192.168.0.10/x", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://[::1]/x", True),
        ("http://0.0.0.0/x", True),
        ("https://sms.example.com/hook", False),
        ("https://93.184.216.34/hook", False),
    ],
)
def test_private_hosts(url: str, private: bool) -> None:
    assert host_is_private(url) is private


def test_webhook_input_shape() -> None:
    for bad in (
        {"url": "ftp://x"},
        {"url": "javascript:alert(1)"},
        {"url": {"$ne": None}},
        {"url": "http://x", "secret": "s"},
    ):
        with pytest.raises(ValidationError):
            WebhookSet.model_validate(bad)


async def test_private_webhooks_are_refused_by_default(
    store: DocumentStore, tmp_path: Path, make_user: MakeUser
) -> None:
    service = WebhookService(store, make_settings(tmp_path))
    alice = await make_user()
    with pytest.raises(AppError) as caught:
        await service.set(alice, WebhookSet.model_validate({"url": "http://169.254.169.254/hook"}))
    assert caught.value.code == "WEBHOOK_URL_FORBIDDEN"
    with pytest.raises(AppError) as caught:
        await service.get(alice)
    assert caught.value.code == "NOT_FOUND"
    assert await service.target_for(alice.user_id) is None


async def test_secret_is_derived_never_stored_and_rotates(
    bx: Broadcasts, make_user: MakeUser, store: DocumentStore
) -> None:
    alice, bob = await make_user(), await make_user()
    first = await bx.webhooks.set(alice, WebhookSet.model_validate({"url": "https://gw.example.com/a"}))
    same = await bx.webhooks.set(alice, WebhookSet.model_validate({"url": "https://gw.example.com/b"}))
    assert same.secret == first.secret and same.url == "https://gw.example.com/b"
    rotated = await bx.webhooks.set(
        alice, WebhookSet.model_validate({"url": "https://gw.example.com/b", "rotateSecret": True})
    )
    assert rotated.secret != first.secret
    other = await bx.webhooks.set(bob, WebhookSet.model_validate({"url": "https://gw.example.com/b"}))
    assert other.secret != rotated.secret
    target = await bx.webhooks.target_for(alice.user_id)
    assert target is not None
    assert base64.urlsafe_b64encode(target.secret).decode().rstrip("=") == rotated.secret
    dump = str(await store.dump())
    assert rotated.secret not in dump and first.secret not in dump
    assert await bx.webhooks.webhooks.count({"userId": alice.user_id}) == 1
    await bx.webhooks.delete(alice)
    with pytest.raises(AppError) as caught:
        await bx.webhooks.delete(alice)
    assert caught.value.code == "NOT_FOUND"


async def test_server_wide_webhook_is_the_fallback(store: DocumentStore, tmp_path: Path, make_user: MakeUser) -> None:
    settings = make_settings(
        tmp_path, broadcast_webhook_url="https://gw.example.com/all", broadcast_webhook_secret="s3cret-value-1234"
    )
    service = WebhookService(store, settings)
    alice = await make_user()
    target = await service.target_for(alice.user_id)
    assert target is not None and (target.url, target.secret) == ("https://gw.example.com/all", b"s3cret-value-1234")


async def test_host_names_are_resolved_before_use(
    store: DocumentStore, tmp_path: Path, make_user: MakeUser, hub: RecordingHub
) -> None:
    # This machine's own name resolves to a loopback address: a name is no way around the check.
    name_url = f"http://{socket.gethostname()}:8080/hook"
    assert not host_is_private(name_url) and await resolves_private(name_url)
    settings = make_settings(tmp_path, broadcast_retry_base_seconds=0.01)
    strict = build_broadcasts(store, settings, hub)
    try:
        alice = await make_user()
        with pytest.raises(AppError) as caught:
            await strict.webhooks.set(alice, WebhookSet.model_validate({"url": name_url}))
        assert caught.value.code == "WEBHOOK_URL_FORBIDDEN"
        # A webhook saved while private addresses were allowed is checked again when it is used.
        lenient = WebhookService(store, make_settings(tmp_path, broadcast_webhook_allow_private=True))
        await lenient.set(alice, WebhookSet.model_validate({"url": "http://127.0.0.1:9/hook"}))
        cid = await add_contact(strict, alice, "Bob", "+12025550143")
        created = await strict.schedule.create(alice, schedule_input({"kind": "contact", "contactId": cid}))
        await make_due(strict, created.id)
        done = await drain(strict, alice, created.id)
        assert done.status.value == "failed" and "private or local network" in (done.delivery_error or "")
        [delivery] = await strict.schedule.deliveries_of(alice, created.id)
        assert delivery.delivery_attempts == 1  # not retried: it cannot get better by itself
    finally:
        await strict.client.aclose()
