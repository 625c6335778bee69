"""E-mail verification and password reset end to end, through a real SMTP server (aiosmtpd) on localhost.

The server sends with its SMTP transport (aiosmtplib); the test reads the token from the delivered mail.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.clients import bearer, register, unique_name
from tests.support.live_server import LiveServer
from tests.support.smtp_inbox import Inbox, smtp_inbox

pytestmark = pytest.mark.e2e
TOKEN = re.compile(r"token: (\S+)")


async def token_for(inbox: Inbox, to: str, subject: str) -> str:
    """The token in the first mail to `to` with that subject (waits up to 10 s for it)."""
    mail = await inbox.wait_for(
        lambda m: to in m.to and m.subject == subject and TOKEN.search(m.text()) is not None, timeout=10.0
    )
    found = TOKEN.search(mail.text())
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as server:
        yield server


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[LiveServer]:
    live = LiveServer.start(
        tmp_path_factory.mktemp("mail"), mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=str(smtp[1])
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def client(mail_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mail_server.base_url, timeout=15.0) as c:
        yield c


async def test_email_verification_is_single_use(client: httpx.AsyncClient, smtp: tuple[Inbox, int]) -> None:
    inbox = smtp[0]
    me = await register(client, unique_name("mv"))
    email, auth = me["user"]["email"], bearer(me["accessToken"])
    assert me["user"]["emailVerified"] is False
    asked = await client.post("/api/v1/account/verify-email/request", headers=auth)
    assert asked.status_code == 202
    token = await token_for(inbox, email, "Confirm your e-mail address")

    wrong = await client.post("/api/v1/account/verify-email", json={"token": "x" * 43})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "ACCOUNT_TOKEN_INVALID"
    done = await client.post("/api/v1/account/verify-email", json={"token": token})
    assert done.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=auth)).json()["emailVerified"] is True
    again = await client.post("/api/v1/account/verify-email", json={"token": token})
    assert again.json()["error"]["code"] == "ACCOUNT_TOKEN_INVALID"


async def test_password_reset_signs_out_and_spends_the_token(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    name = unique_name("mr")
    me = await register(client, name)
    email, old_auth = me["user"]["email"], bearer(me["accessToken"])
    before = len(inbox.mails)
    nobody = await client.post("/api/v1/account/password/forgot", json={"email": f"nobody-{name}@example.com"})
    assert nobody.status_code == 202  # the same answer: no account enumeration
    asked = await client.post("/api/v1/account/password/forgot", json={"email": email.upper()})
    assert asked.status_code == 202
    token = await token_for(inbox, email, "Reset your password")
    assert all(f"nobody-{name}" not in m.to[0] for m in inbox.mails[before:])

    weak = await client.post("/api/v1/account/password/reset", json={"token": token, "password": "short"})
    assert weak.json()["error"]["code"] == "PASSWORD_TOO_WEAK"  # refused before the token is spent
    new_password = "a much better passphrase 42"
    done = await client.post("/api/v1/account/password/reset", json={"token": token, "password": new_password})
    assert done.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=old_auth)).status_code == 401  # signed out everywhere
    reused = await client.post("/api/v1/account/password/reset", json={"token": token, "password": new_password})
    assert reused.json()["error"]["code"] == "ACCOUNT_TOKEN_INVALID"
    login = await client.post("/api/v1/auth/login", json={"login": name, "password": new_password})
    assert login.status_code == 200, login.text
