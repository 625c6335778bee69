"""Issue 14: sign-in, registration and refresh are rate-limited per address and per account (429 with
Retry-After), shared through Redis, and the failed-attempt lockout is per (account, address) so an attacker
cannot lock the owner out. Real servers; the client address comes through a trusted proxy's X-Forwarded-For."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, bearer, unique_name
from tests.support.live_server import LiveServer, shared_server
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

LIMITS = {
    "trusted_proxies": "127.0.0.1",  # the test client plays the proxy and names the client in X-Forwarded-For
    "auth_lockout_failures": "3",
    "auth_lockout_seconds": "60",
    "rate_auth_address_burst": "6",
    "rate_auth_address_per_second": "0.01",
    "rate_auth_account_burst": "5",
    "rate_auth_account_per_second": "0.01",
    "max_sessions_per_user": "2",
}


server = shared_server("auth-limits", **LIMITS)


_octet = iter(range(1, 250))


def new_address() -> str:
    return f"198.51.100.{next(_octet)}"


def via(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def register_from(http: httpx.AsyncClient, address: str) -> dict[str, Any]:
    name = unique_name("lim")
    body = {"email": f"{name}@example.com", "username": name, "displayName": name, "password": PASSWORD}
    response = await http.post("/api/v1/auth/register", json=body, headers=via(address))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def login(http: httpx.AsyncClient, login: str, password: str, address: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"login": login, "password": password}, headers=via(address))


def assert_rate_limited(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED" and error["details"]["rule"] == rule, error
    assert int(response.headers["Retry-After"]) >= 1


async def test_failed_attempts_lock_only_the_attackers_address(server: LiveServer) -> None:
    victim_address, attacker = new_address(), new_address()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        victim = (await register_from(http, victim_address))["user"]["username"]
        for _ in range(3):
            assert (await login(http, victim, "wrong password!", attacker)).status_code == 401
        locked = await login(http, victim, "wrong password!", attacker)
        assert_rate_limited(locked, "auth_lockout")
        assert 30 <= int(locked.headers["Retry-After"]) <= 60
        # Locked means locked: not even the right password from that address is tried.
        assert_rate_limited(await login(http, victim, PASSWORD, attacker), "auth_lockout")
        # A client-written X-Forwarded-For entry is ignored: the right-most untrusted hop is the attacker.
        spoofed = await http.post(
            "/api/v1/auth/login",
            json={"login": victim, "password": PASSWORD},
            headers={"X-Forwarded-For": f"{victim_address}, {attacker}"},
        )
        assert_rate_limited(spoofed, "auth_lockout")
        # The owner, from their own address, is not locked out.
        assert (await login(http, victim, PASSWORD, victim_address)).status_code == 200


async def test_username_and_email_are_one_account_for_the_lockout(server: LiveServer) -> None:
    attacker = new_address()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        user = (await register_from(http, new_address()))["user"]
        for login_as in (user["username"], user["email"].upper(), user["username"].upper()):
            assert (await login(http, login_as, "wrong password!", attacker)).status_code == 401
        assert_rate_limited(await login(http, user["email"], PASSWORD, attacker), "auth_lockout")


async def test_one_account_is_metered_over_every_address(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        target = (await register_from(http, new_address()))["user"]["username"]
        answers = [await login(http, target, "wrong password!", new_address()) for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert_rate_limited(answers[5], "auth_account")


async def test_password_reset_requests_are_metered_per_account_and_per_address(server: LiveServer) -> None:
    """Each forgot-password request may send a mail: one address is metered over every address, and one
    address over every account, with the sign-in limits' rules."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        email = (await register_from(http, new_address()))["user"]["email"]
        forgot = [
            await http.post("/api/v1/account/password/forgot", json={"email": email}, headers=via(new_address()))
            for _ in range(6)
        ]
        assert [a.status_code for a in forgot[:5]] == [202] * 5
        assert_rate_limited(forgot[5], "auth_account")
        one = new_address()
        spray = [
            await http.post(
                "/api/v1/account/password/forgot", json={"email": f"{unique_name('x')}@example.com"}, headers=via(one)
            )
            for _ in range(7)
        ]
        assert [a.status_code for a in spray[:6]] == [202] * 6
        assert_rate_limited(spray[6], "auth_address")


async def test_refreshes_of_one_account_are_metered_over_every_address(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        token = (await register_from(http, new_address()))["refreshToken"]
        for _ in range(5):
            answer = await http.post("/api/v1/auth/refresh", json={"refreshToken": token}, headers=via(new_address()))
            assert answer.status_code == 200, answer.text
            token = answer.json()["refreshToken"]
        refused = await http.post("/api/v1/auth/refresh", json={"refreshToken": token}, headers=via(new_address()))
        assert_rate_limited(refused, "auth_account")


async def test_one_address_is_metered_over_register_login_and_refresh(server: LiveServer) -> None:
    address = new_address()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        pair = await register_from(http, address)  # 1
        name = pair["user"]["username"]
        assert (await login(http, name, PASSWORD, address)).status_code == 200  # 2
        refreshed = await http.post(
            "/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]}, headers=via(address)
        )
        assert refreshed.status_code == 200, refreshed.text  # 3
        for _ in range(3):  # 4, 5, 6: unknown accounts, each a different one
            assert (await login(http, unique_name("nobody"), "whatever1", address)).status_code == 401
        assert_rate_limited(await login(http, name, PASSWORD, address), "auth_address")
        again = await http.post(
            "/api/v1/auth/refresh", json={"refreshToken": refreshed.json()["refreshToken"]}, headers=via(address)
        )
        assert_rate_limited(again, "auth_address")
        # Another address is not affected.
        assert (await login(http, name, PASSWORD, new_address())).status_code == 200


async def test_a_new_sign_in_past_the_session_cap_ends_the_oldest(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        first = await register_from(http, new_address())
        name = first["user"]["username"]
        second = (await login(http, name, PASSWORD, new_address())).json()
        third = (await login(http, name, PASSWORD, new_address())).json()
        gone = await http.get("/api/v1/auth/sessions", headers=bearer(first["accessToken"]))
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "AUTH_INVALID_TOKEN"
        live = await http.get("/api/v1/auth/sessions", headers=bearer(third["accessToken"]))
        assert {s["id"] for s in live.json()} == {second["sessionId"], third["sessionId"]}


def test_limits_are_shared_by_servers_through_redis(tmp_path: Path) -> None:
    redis = RedisServer.start()
    servers: list[LiveServer] = []
    try:
        settings = {
            "redis_url": redis.url,
            "redis_prefix": f"t{uuid.uuid4().hex[:8]}",
            "rate_auth_address_burst": "3",
            "rate_auth_address_per_second": "0.01",
        }
        servers = [LiveServer.start(tmp_path / f"node{i}", **settings) for i in range(2)]
        a, b = servers
        body = {"login": "nobody-at-all", "password": "whatever1"}
        with httpx.Client() as http:
            codes = [http.post(f"{a.base_url}/api/v1/auth/login", json=body).status_code for _ in range(3)]
            refused = http.post(f"{b.base_url}/api/v1/auth/login", json=body)
        assert codes == [401, 401, 401]
        assert_rate_limited(refused, "auth_address")
    finally:
        for live in servers:
            live.stop()
        redis.stop()
