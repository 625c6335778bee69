"""Account rules on both adapters: registration, login, refresh rotation, sessions, API keys, admin actions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.identity import ClientInfo, Principal
from connectnow.security import Secrets
from connectnow.services.api_keys import ApiKeyService
from connectnow.services.auth import AuthService
from connectnow.services.users import UserService
from connectnow.store.port import DocumentStore
from models.auth import ApiKeyCreate
from models.users import AdminUserAction, LoginIn, PasswordChange, RegisterIn, UserUpdate
from tests.conftest import make_settings

CLIENT = ClientInfo(user_agent="pytest", ip_address="127.0.0.1")
PASSWORD = "correct horse battery"


class RecordingSockets:
    """Records which sockets the rules asked to close (the real hub is exercised in the e2e tests)."""

    def __init__(self) -> None:
        self.closed: list[tuple[str, str]] = []

    async def disconnect_user(self, user_id: str, reason: str) -> None:
        self.closed.append(("user", user_id))

    async def disconnect_session(self, session_id: str, reason: str) -> None:
        self.closed.append(("session", session_id))

    async def disconnect_api_key(self, api_key_id: str, reason: str) -> None:
        self.closed.append(("apiKey", api_key_id))


class Accounts:
    def __init__(self, store: DocumentStore, settings: Settings) -> None:
        self.sockets = RecordingSockets()
        self.auth = AuthService(store, Secrets(settings), settings, self.sockets)
        self.users = UserService(self.auth)
        self.keys = ApiKeyService(self.auth)

    async def register(self, name: str, password: str = PASSWORD) -> tuple[Principal, str, str]:
        pair = await self.auth.register(
            RegisterIn.model_validate(
                {"email": f"{name}@Example.com", "username": name, "displayName": name.title(), "password": password}
            ),
            CLIENT,
        )
        principal = await self.auth.authenticate(pair.access_token)
        return principal, pair.access_token, pair.refresh_token


@pytest.fixture
def accounts(store: DocumentStore, tmp_path: Path) -> Accounts:
    return Accounts(store, make_settings(tmp_path))


async def expect(code: errors.ErrorCode, awaitable: object) -> AppError:
    with pytest.raises(AppError) as caught:
        await awaitable  # type: ignore[misc]
    assert caught.value.code == code.code, caught.value
    return caught.value


def login(name: str, password: str = PASSWORD) -> LoginIn:
    return LoginIn.model_validate({"login": name, "password": password})


async def test_register_then_login_by_username_or_email_case_insensitively(accounts: Accounts) -> None:
    principal, _, _ = await accounts.register("Alice")
    by_name = await accounts.auth.login(login("aLiCe"), CLIENT)
    by_mail = await accounts.auth.login(login("ALICE@example.COM"), CLIENT)
    assert by_name.user.id == by_mail.user.id == principal.user_id
    assert by_mail.user.last_login_at is not None
    me = await accounts.auth.authenticate(by_mail.access_token)
    assert me.user.username == "Alice" and me.session_id == by_mail.session_id


async def test_email_and_username_are_unique_case_insensitively(accounts: Accounts) -> None:
    await accounts.register("bob")
    dup_mail = RegisterIn.model_validate(
        {"email": "BOB@example.com", "username": "robert", "displayName": "R", "password": PASSWORD}
    )
    await expect(errors.EMAIL_TAKEN, accounts.auth.register(dup_mail, CLIENT))
    dup_name = RegisterIn.model_validate(
        {"email": "other@example.com", "username": "BOB", "displayName": "B", "password": PASSWORD}
    )
    await expect(errors.USERNAME_TAKEN, accounts.auth.register(dup_name, CLIENT))
    assert await accounts.auth.users.count({}) == 1


async def test_concurrent_registrations_of_one_name_store_one_user(accounts: Accounts) -> None:
    results = await asyncio.gather(*(accounts.register("racer") for _ in range(4)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, AppError) for r in results if isinstance(r, BaseException))
    assert await accounts.auth.users.count({"usernameLower": "racer"}) == 1


async def test_password_policy(accounts: Accounts) -> None:
    short = RegisterIn.model_validate(
        {"email": "s@example.com", "username": "shorty", "displayName": "S", "password": "1234567"}
    )
    await expect(errors.PASSWORD_TOO_WEAK, accounts.auth.register(short, CLIENT))
    huge = RegisterIn.model_validate(
        {"email": "h@example.com", "username": "huge", "displayName": "H", "password": "x" * 129}
    )
    await expect(errors.PASSWORD_TOO_LONG, accounts.auth.register(huge, CLIENT))
    with pytest.raises(ValidationError):
        LoginIn.model_validate({"login": "x", "password": "y" * 2000})
    assert await accounts.auth.users.count({}) == 0


async def test_password_hash_is_argon2id_at_owasp_minimum(accounts: Accounts) -> None:
    principal, _, _ = await accounts.register("hashy")
    assert principal.user.password_hash is not None
    assert principal.user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_wrong_password_and_unknown_user_are_the_same_refusal(accounts: Accounts) -> None:
    await accounts.register("carol")
    await expect(errors.AUTH_INVALID_CREDENTIALS, accounts.auth.login(login("carol", "wrong password"), CLIENT))
    await expect(errors.AUTH_INVALID_CREDENTIALS, accounts.auth.login(login("nobody"), CLIENT))


@pytest.mark.parametrize("field", ["login", "password"])
async def test_operator_objects_in_credentials_are_refused_by_validation(field: str) -> None:
    body: dict[str, object] = {"login": "carol", "password": PASSWORD}
    body[field] = {"$ne": None}
    with pytest.raises(ValidationError):
        LoginIn.model_validate(body)


async def test_refresh_rotates_and_a_replay_revokes_the_family(accounts: Accounts) -> None:
    principal, access, refresh = await accounts.register("dave")
    rotated = await accounts.auth.refresh(refresh)
    assert rotated.refresh_token != refresh and rotated.access_token != access
    assert rotated.session_id == principal.session_id
    await expect(errors.AUTH_INVALID_TOKEN, accounts.auth.authenticate(access))  # the old access token died
    await accounts.auth.authenticate(rotated.access_token)
    # The first refresh token is presented again: theft is assumed and the whole session dies.
    await expect(errors.AUTH_REFRESH_REUSED, accounts.auth.refresh(refresh))
    await expect(errors.AUTH_INVALID_TOKEN, accounts.auth.authenticate(rotated.access_token))
    await expect(errors.AUTH_INVALID_TOKEN, accounts.auth.refresh(rotated.refresh_token))
    assert ("session", principal.session_id) in accounts.sockets.closed


async def test_concurrent_refreshes_yield_one_winner(accounts: Accounts) -> None:
    _, _, refresh = await accounts.register("erin")
    results = await asyncio.gather(*(accounts.auth.refresh(refresh) for _ in range(3)), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) <= 1
    assert all(isinstance(r, AppError) for r in results if isinstance(r, BaseException))


async def test_expired_access_token_is_refused(accounts: Accounts) -> None:
    principal, access, _ = await accounts.register("frank")
    assert principal.session_id is not None
    await accounts.auth.sessions.update(
        {"id": principal.session_id}, {"$set": {"expiresAt": utcnow() - timedelta(seconds=1)}}
    )
    await expect(errors.AUTH_TOKEN_EXPIRED, accounts.auth.authenticate(access))


@pytest.mark.parametrize("token", ["", "garbage", "cnr_refresh-is-not-access", "cna_" + "x" * 300, None, 42])
async def test_malformed_tokens_are_refused(accounts: Accounts, token: object) -> None:
    with pytest.raises(AppError) as caught:
        await accounts.auth.authenticate(token)
    assert caught.value.code in {"AUTH_REQUIRED", "AUTH_MALFORMED"}


async def test_logout_ends_only_that_session(accounts: Accounts) -> None:
    principal, access, _ = await accounts.register("gina")
    other = await accounts.auth.login(login("gina"), CLIENT)
    await accounts.auth.logout(principal)
    await expect(errors.AUTH_INVALID_TOKEN, accounts.auth.authenticate(access))
    await accounts.auth.authenticate(other.access_token)


async def test_change_password_ends_every_other_session(accounts: Accounts) -> None:
    principal, access, _ = await accounts.register("hank")
    other = await accounts.auth.login(login("hank"), CLIENT)
    change = PasswordChange.model_validate({"currentPassword": PASSWORD, "newPassword": "a brand new secret"})
    await accounts.users.change_password(principal, change)
    await accounts.auth.authenticate(access)  # this session stays
    await expect(errors.AUTH_INVALID_TOKEN, accounts.auth.authenticate(other.access_token))
    await expect(errors.AUTH_INVALID_CREDENTIALS, accounts.auth.login(login("hank"), CLIENT))
    await accounts.auth.login(login("hank", "a brand new secret"), CLIENT)
    wrong = PasswordChange.model_validate({"currentPassword": "not it at all", "newPassword": "another secret!"})
    await expect(errors.AUTH_INVALID_CREDENTIALS, accounts.users.change_password(principal, wrong))


async def test_profile_update(accounts: Accounts) -> None:
    principal, _, _ = await accounts.register("ivan")
    update = UserUpdate.model_validate({"displayName": "Ivan T", "bio": "hello", "avatarUrl": "https://x.test/a.png"})
    me = await accounts.users.update_me(principal, update)
    assert (me.display_name, me.bio, me.avatar_url) == ("Ivan T", "hello", "https://x.test/a.png")
    cleared = await accounts.users.update_me(principal, UserUpdate.model_validate({"bio": None}))
    assert cleared.bio is None and cleared.display_name == "Ivan T"


@pytest.mark.parametrize(
    "body",
    [
        {"displayName": "a\u202eevil"},
        {"displayName": "nul\x00byte"},
        {"displayName": "x" * 65},
        {"displayName": ""},
        {"bio": "\ud800"},
        {"avatarUrl": "javascript:alert(1)"},
        {"isAdmin": True},
        {"display_name": "snake case is not the wire format"},
        {"displayName": {"$ne": None}},
    ],
)
def test_profile_update_refuses_bad_input(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UserUpdate.model_validate(body)


async def test_api_keys_create_authenticate_list_revoke(accounts: Accounts) -> None:
    principal, _, _ = await accounts.register("judy")
    created = await accounts.keys.create(principal, ApiKeyCreate.model_validate({"name": "deploy bot"}))
    assert created.key.startswith("cnk_") and created.prefix == created.key[:12]
    bot = await accounts.auth.authenticate(created.key)
    assert bot.api_key_id == created.id and bot.is_bot and bot.user_id == principal.user_id
    listed = await accounts.keys.list(principal)
    assert [k.id for k in listed] == [created.id]
    assert "key" not in listed[0].model_dump()
    await accounts.keys.revoke(principal, created.id)
    await expect(errors.API_KEY_REVOKED, accounts.auth.authenticate(created.key))
    assert ("apiKey", created.id) in accounts.sockets.closed


async def test_api_keys_are_private_to_their_owner(accounts: Accounts) -> None:
    owner, _, _ = await accounts.register("kate")
    other, _, _ = await accounts.register("liam")
    created = await accounts.keys.create(owner, ApiKeyCreate.model_validate({"name": "k"}))
    await expect(errors.NOT_FOUND, accounts.keys.revoke(other, created.id))
    assert await accounts.keys.list(other) == []
    bot = await accounts.auth.authenticate(created.key)
    await expect(errors.FORBIDDEN, accounts.keys.create(bot, ApiKeyCreate.model_validate({"name": "from a bot"})))


async def test_admin_ban_ends_sessions_and_refuses_login(accounts: Accounts) -> None:
    admin, _, _ = await accounts.register("root")
    await accounts.auth.users.update({"id": admin.user_id}, {"$set": {"isAdmin": True}})
    admin = await accounts.auth.authenticate((await accounts.auth.login(login("root"), CLIENT)).access_token)
    victim, access, _ = await accounts.register("mallory")
    key = await accounts.keys.create(victim, ApiKeyCreate.model_validate({"name": "k"}))
    banned = await accounts.users.set_banned(admin, victim.user_id, True, AdminUserAction(reason="spam"))
    assert banned.is_banned
    await expect(errors.AUTH_INVALID_TOKEN, accounts.auth.authenticate(access))
    await expect(errors.USER_BANNED, accounts.auth.authenticate(key.key))
    await expect(errors.USER_BANNED, accounts.auth.login(login("mallory"), CLIENT))
    assert ("user", victim.user_id) in accounts.sockets.closed
    await accounts.users.set_banned(admin, victim.user_id, False, AdminUserAction())
    await accounts.auth.login(login("mallory"), CLIENT)


async def test_admin_disable_and_non_admin_refusal(accounts: Accounts) -> None:
    admin, _, _ = await accounts.register("boss")
    await accounts.auth.users.update({"id": admin.user_id}, {"$set": {"isAdmin": True}})
    admin = await accounts.auth.authenticate((await accounts.auth.login(login("boss"), CLIENT)).access_token)
    user, _, _ = await accounts.register("nina")
    await expect(errors.ADMIN_REQUIRED, accounts.users.set_active(user, admin.user_id, False))
    await expect(errors.FORBIDDEN, accounts.users.set_active(admin, admin.user_id, False))
    await expect(errors.NOT_FOUND, accounts.users.set_active(admin, "0" * 24, False))
    await accounts.users.set_active(admin, user.user_id, False)
    await expect(errors.USER_DISABLED, accounts.auth.login(login("nina"), CLIENT))


async def test_store_dump_holds_no_raw_password_token_or_key(
    accounts: Accounts, store: DocumentStore, tmp_path: Path
) -> None:
    principal, access, refresh = await accounts.register("olga", password="a very distinctive password")
    rotated = await accounts.auth.refresh(refresh)
    key = await accounts.keys.create(principal, ApiKeyCreate.model_validate({"name": "bot"}))
    secrets = ["a very distinctive password", access, refresh, rotated.access_token, rotated.refresh_token, key.key]
    dumped = repr(await store.dump())
    for secret in secrets:
        assert secret not in dumped
    for secret in secrets[1:]:  # not even the random part without its prefix
        assert secret[4:] not in dumped
    files = await asyncio.to_thread(lambda: list(tmp_path.glob("*.db*")))
    for path in files:  # the SQLite database, WAL and shared-memory files, byte for byte
        raw = path.read_bytes()
        assert not any(s.encode() in raw for s in secrets), path
