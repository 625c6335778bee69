"""The foundation end to end: a real `connectnow serve`, real HTTP and real Socket.IO clients."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import socketio

from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer, server_http, shared_server

pytestmark = pytest.mark.e2e


server = shared_server("foundation")


client = server_http()


async def refused(server: LiveServer, **connect: object) -> object:
    sock = SocketClient()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sock.connect(server.base_url, **connect)  # type: ignore[arg-type]
        assert not sock.sio.connected
    finally:
        await sock.close()
    return sock.connect_error


def code_of(connect_error: object) -> str:
    assert isinstance(connect_error, dict), connect_error
    return str(connect_error["data"]["code"])


async def test_register_login_me_and_socket_connect(server: LiveServer, client: httpx.AsyncClient) -> None:
    name = unique_name("alice")
    registered = await register(client, name)
    assert registered["user"]["username"] == name and "passwordHash" not in registered["user"]
    login = await client.post("/api/v1/auth/login", json={"login": f"{name}@EXAMPLE.com", "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    assert set(tokens) >= {"accessToken", "refreshToken", "expiresAt", "user"}
    me = await client.get("/api/v1/users/me", headers=bearer(tokens["accessToken"]))
    assert me.status_code == 200 and me.json()["username"] == name
    sock = SocketClient()
    await sock.connect(server.base_url, tokens["accessToken"])
    try:
        ack = await sock.call("session:whoami")
        assert ack["ok"] is True and ack["data"]["user"]["username"] == name
        assert ack["data"]["sessionId"] == tokens["sessionId"]
        unknown = await sock.call("no:such:event", {"x": 1})
        assert unknown["ok"] is False and unknown["error"]["code"] == "UNKNOWN_EVENT"
    finally:
        await sock.close()


async def test_socket_refusals_carry_codes(server: LiveServer, client: httpx.AsyncClient) -> None:
    assert code_of(await refused(server, token=None)) == "AUTH_REQUIRED"
    assert code_of(await refused(server, token="cna_not-a-real-token")) == "AUTH_INVALID_TOKEN"
    assert code_of(await refused(server, token="garbage")) == "AUTH_MALFORMED"
    assert code_of(await refused(server, token=None, auth={"token": {"$ne": None}})) == "AUTH_MALFORMED"
    assert code_of(await refused(server, token=None, auth=["not", "a", "dict"])) == "AUTH_MALFORMED"


async def test_token_in_query_string_is_not_accepted(server: LiveServer, client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    access = tokens["accessToken"]
    rest = await client.get(f"/api/v1/users/me?token={access}&access_token={access}&api_key={access}")
    assert rest.status_code == 401 and rest.json()["error"]["code"] == "AUTH_REQUIRED"
    sock = SocketClient()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sock.sio.connect(f"{server.base_url}?token={access}", transports=["websocket"], wait_timeout=5)
    finally:
        await sock.close()
    assert code_of(sock.connect_error) == "AUTH_REQUIRED"


async def test_expired_access_token_is_refused_on_socket_and_rest(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    tokens = await register(client)
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    db = sqlite3.connect(Path(server.env["CONNECTNOW_DATA_DIR"]) / "connectnow.db")
    with db:
        db.execute(
            "UPDATE sessions SET doc = json_set(doc, '$.expiresAt', ?) WHERE id = ?", (past, tokens["sessionId"])
        )
    db.close()
    assert code_of(await refused(server, token=tokens["accessToken"])) == "AUTH_TOKEN_EXPIRED"
    me = await client.get("/api/v1/users/me", headers=bearer(tokens["accessToken"]))
    assert me.status_code == 401 and me.json()["error"]["code"] == "AUTH_TOKEN_EXPIRED"
    refreshed = await client.post("/api/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200  # the refresh token outlives the access token


async def test_api_key_on_rest_and_socket_then_revoked(server: LiveServer, client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    created = await client.post("/api/v1/api-keys", json={"name": "ci bot"}, headers=bearer(tokens["accessToken"]))
    assert created.status_code == 201
    key = created.json()["key"]
    me = await client.get("/api/v1/users/me", headers=bearer(key))
    assert me.status_code == 200
    listed = await client.get("/api/v1/api-keys", headers=bearer(tokens["accessToken"]))
    assert [k["id"] for k in listed.json()] == [created.json()["id"]] and "key" not in listed.json()[0]
    bot = SocketClient()
    await bot.connect(server.base_url, key)
    assert (await bot.call("session:whoami"))["data"]["apiKeyId"] == created.json()["id"]
    revoked = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=bearer(tokens["accessToken"]))
    assert revoked.status_code == 200 and revoked.json()["isActive"] is False
    await wait_disconnected(bot)
    await bot.close()
    assert code_of(await refused(server, token=key)) == "API_KEY_REVOKED"
    after = await client.get("/api/v1/users/me", headers=bearer(key))
    assert after.status_code == 401 and after.json()["error"]["code"] == "API_KEY_REVOKED"


async def wait_disconnected(sock: SocketClient, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if not sock.sio.connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the socket was not disconnected")


async def make_admin(server: LiveServer) -> str:
    name = unique_name("admin")
    result = server.cli(
        "create-admin", "--email", f"{name}@example.com", "--username", name, "--password-stdin", stdin=PASSWORD
    )
    assert result.returncode == 0, result.stderr
    return name


async def test_ban_disconnects_open_sockets_and_refuses_reconnect(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    admin_name = await make_admin(server)
    admin = (await client.post("/api/v1/auth/login", json={"login": admin_name, "password": PASSWORD})).json()
    assert admin["user"]["isAdmin"] is True
    victim = await register(client)
    phone, laptop = SocketClient(), SocketClient()
    await phone.connect(server.base_url, victim["accessToken"])
    await laptop.connect(server.base_url, victim["accessToken"])
    admin_url = f"/api/v1/admin/users/{admin['user']['id']}/ban"
    not_admin = await client.post(admin_url, headers=bearer(victim["accessToken"]))
    assert not_admin.status_code == 403 and not_admin.json()["error"]["code"] == "ADMIN_REQUIRED"
    ban = await client.post(
        f"/api/v1/admin/users/{victim['user']['id']}/ban", json={"reason": "spam"}, headers=bearer(admin["accessToken"])
    )
    assert ban.status_code == 200 and ban.json()["isBanned"] is True
    await wait_disconnected(phone)
    await wait_disconnected(laptop)
    await phone.close()
    await laptop.close()
    assert phone.received("session:ended")
    assert code_of(await refused(server, token=victim["accessToken"])) == "AUTH_INVALID_TOKEN"
    relogin = await client.post("/api/v1/auth/login", json={"login": victim["user"]["username"], "password": PASSWORD})
    assert relogin.status_code == 403 and relogin.json()["error"]["code"] == "USER_BANNED"


async def test_foreign_origin_is_refused(server: LiveServer, client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    await refused(server, token=tokens["accessToken"], headers={"Origin": "https://evil.example"})
    ok = SocketClient()
    await ok.connect(server.base_url, tokens["accessToken"], headers={"Origin": "http://localhost:3000"})
    await ok.close()
    polling = await client.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": "https://evil.example"})
    assert polling.status_code == 400 and "access-control-allow-origin" not in polling.headers


async def test_replayed_refresh_token_revokes_the_family(server: LiveServer, client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    first = await client.post("/api/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert first.status_code == 200
    replay = await client.post("/api/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "AUTH_REFRESH_REUSED"
    newest = first.json()
    me = await client.get("/api/v1/users/me", headers=bearer(newest["accessToken"]))
    assert me.status_code == 401
    again = await client.post("/api/v1/auth/refresh", json={"refreshToken": newest["refreshToken"]})
    assert again.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"login": {"$ne": None}, "password": {"$ne": None}},
        {"login": "x", "password": {"$gt": ""}},
        {"login": ["a"], "password": "b"},
        {"login": "x", "password": "y", "role": "admin"},
        {"login": "x"},
    ],
)
async def test_bad_login_bodies_are_refused_with_codes(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert "$ne" not in response.text and "$gt" not in response.text  # the input is never echoed


async def test_wrong_password_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    response = await client.post(
        "/api/v1/auth/login", json={"login": tokens["user"]["username"], "password": "not the password"}
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_INVALID_CREDENTIALS"


async def test_register_refuses_client_set_fields_and_stores_nothing(client: httpx.AsyncClient) -> None:
    name = unique_name("sneaky")
    body = {"email": f"{name}@example.com", "username": name, "displayName": "S", "password": PASSWORD, "isAdmin": True}
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    del body["isAdmin"]
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201


async def test_profile_patch_and_password_change(server: LiveServer, client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    other = (
        await client.post("/api/v1/auth/login", json={"login": tokens["user"]["username"], "password": PASSWORD})
    ).json()
    watcher = SocketClient()
    await watcher.connect(server.base_url, other["accessToken"])
    patched = await client.patch(
        "/api/v1/users/me", json={"bio": "hi", "displayName": "New Name"}, headers=bearer(tokens["accessToken"])
    )
    assert patched.status_code == 200 and patched.json()["displayName"] == "New Name"
    change = await client.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "another long secret"},
        headers=bearer(tokens["accessToken"]),
    )
    assert change.status_code == 204
    await wait_disconnected(watcher)
    await watcher.close()
    assert (await client.get("/api/v1/users/me", headers=bearer(other["accessToken"]))).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=bearer(tokens["accessToken"]))).status_code == 200


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    huge = {"login": "x" * (2 * 1024 * 1024), "password": "y"}
    response = await client.post("/api/v1/auth/login", json=huge)
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_oversized_socket_message_is_refused(server: LiveServer, client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    sock = SocketClient()
    await sock.connect(server.base_url, tokens["accessToken"])
    try:
        # Above the 64 KiB Engine.IO buffer: the server drops the connection instead of buffering it.
        await sock.sio.emit("session:whoami", {"blob": "x" * (200 * 1024)})
        await wait_disconnected(sock)
    finally:
        await sock.close()


async def test_probes_docs_and_unknown_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"storage": "ok", "broker": "ok"}
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/auth/login" in spec["paths"] and "/api/v1/api-keys" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
