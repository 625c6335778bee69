"""Accounts and sessions: register, log in, refresh with rotation, log out, authenticate a token.

Refresh tokens rotate on every use. Each one can be used once: presenting a used refresh token again means
it was stolen or replayed, so the whole session (its token family) is revoked, as OAuth 2.0 Security BCP
section 4.14 recommends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.identity import ClientInfo, Principal
from connectnow.repositories.accounts import (
    ApiKeyRepository,
    RefreshTokenRepository,
    SessionRepository,
    UserRepository,
)
from connectnow.security import Secrets, TokenKind, token_kind
from connectnow.services.auth_limits import AuthThrottle
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.auth import ApiKeyRecord, RefreshTokenRecord, SessionPublic, SessionRecord, TokenPair
from models.users import LoginIn, RegisterIn, UserMe, UserRecord

# Writing lastActiveAt on every request would turn reads into writes; once a minute is precise enough.
LAST_ACTIVE_WRITE_INTERVAL = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 256


class SocketControl(Protocol):
    """What account rules need from the realtime layer: closing sockets of revoked credentials."""

    async def disconnect_user(self, user_id: str, reason: str) -> None: ...

    async def disconnect_session(self, session_id: str, reason: str) -> None: ...

    async def disconnect_api_key(self, api_key_id: str, reason: str) -> None: ...


def ensure_user_allowed(user: UserRecord) -> None:
    if user.is_banned:
        raise AppError(errors.USER_BANNED)
    if not user.is_active:
        raise AppError(errors.USER_DISABLED)


class AuthService:
    def __init__(
        self,
        store: DocumentStore,
        secrets: Secrets,
        settings: Settings,
        sockets: SocketControl,
        throttle: AuthThrottle | None = None,  # None only where no client reaches it (the CLI)
    ) -> None:
        self.users = UserRepository(store)
        self.sessions = SessionRepository(store)
        self.refresh_tokens = RefreshTokenRepository(store)
        self.api_keys = ApiKeyRepository(store)
        self.secrets = secrets
        self.settings = settings
        self.sockets = sockets
        self.throttle = throttle

    # --- passwords -----------------------------------------------------------------------------------
    def check_password_policy(self, password: str) -> None:
        if len(password) > self.settings.password_max_length:
            raise AppError(
                errors.PASSWORD_TOO_LONG,
                f"Passwords may be at most {self.settings.password_max_length} characters long",
            )
        if len(password) < self.settings.password_min_length:
            raise AppError(
                errors.PASSWORD_TOO_WEAK,
                f"Passwords must be at least {self.settings.password_min_length} characters long",
            )

    # --- accounts --------------------------------------------------------------------------------------
    async def create_user(self, data: RegisterIn, *, is_admin: bool = False) -> UserRecord:
        self.check_password_policy(data.password)
        now = utcnow()
        user = UserRecord(
            id=new_id(),
            email=str(data.email),
            email_lower=str(data.email).lower(),
            username=data.username,
            username_lower=data.username.lower(),
            display_name=data.display_name,
            password_hash=await self.secrets.hash_password(data.password),
            is_admin=is_admin,
            created_at=now,
            updated_at=now,
        )
        try:
            return await self.users.insert(user)
        except DuplicateKeyError as exc:
            if exc.index == "ux_users_email":
                raise AppError(errors.EMAIL_TAKEN) from exc
            raise AppError(errors.USERNAME_TAKEN) from exc

    async def register(self, data: RegisterIn, client: ClientInfo) -> TokenPair:
        if self.throttle is not None:
            await self.throttle.request(client.ip_address)
            await self.throttle.account(f"register:{str(data.email).lower()}")
        user = await self.create_user(data)
        return await self._open_session(user, client)

    async def login(self, data: LoginIn, client: ClientInfo) -> TokenPair:
        if self.throttle is not None:
            await self.throttle.request(client.ip_address)
        user = await self.users.by_login(data.login)
        # One account is one bucket whether named by username or e-mail; an unknown name is its own.
        account = user.id if user is not None else f"unknown:{data.login.lower()}"
        if self.throttle is not None:
            await self.throttle.before_sign_in(account, client.ip_address)
        self.check_password_policy_length_only(data.password)
        ok = await self.secrets.verify_password(user.password_hash if user else None, data.password)
        if user is None or not ok:
            if self.throttle is not None:
                await self.throttle.sign_in_failed(account, client.ip_address)
            raise AppError(errors.AUTH_INVALID_CREDENTIALS)
        ensure_user_allowed(user)
        if user.password_hash and self.secrets.needs_rehash(user.password_hash):
            await self.users.set_fields(user.id, {"passwordHash": await self.secrets.hash_password(data.password)})
        return await self._open_session(user, client)

    def check_password_policy_length_only(self, password: str) -> None:
        # Hashing an over-long password would let anyone burn CPU: refuse it before hashing.
        if len(password) > self.settings.password_max_length:
            raise AppError(errors.AUTH_INVALID_CREDENTIALS)

    async def _open_session(self, user: UserRecord, client: ClientInfo) -> TokenPair:
        now = utcnow()
        access = self.secrets.new_token(TokenKind.ACCESS)
        session = SessionRecord(
            id=new_id(),
            user_id=user.id,
            token_hash=self.secrets.digest(access),
            expires_at=now + timedelta(seconds=self.settings.access_token_ttl_seconds),
            refresh_expires_at=now + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
            user_agent=(client.user_agent or "")[:512] or None,
            ip_address=client.ip_address,
            created_at=now,
            last_active_at=now,
        )
        await self.sessions.insert(session)
        await self._end_sessions_over_cap(user.id, now)
        refresh = await self._issue_refresh(session, parent_id=None)
        user = await self.users.set_fields(user.id, {"lastLoginAt": now}) or user
        return self._pair(user, session, access, refresh)

    async def _end_sessions_over_cap(self, user_id: str, now: datetime) -> None:
        """At most `max_sessions_per_user` live sessions: a new sign-in ends the oldest ones (never refused, so
        an owner who forgot to sign out elsewhere can still sign in; their old devices get `session:ended`)."""
        live = await self.sessions.active_for_user(user_id, now)  # newest first
        for old in live[self.settings.max_sessions_per_user :]:
            await self.revoke_session(old.id, "session limit")

    async def _issue_refresh(self, session: SessionRecord, parent_id: str | None) -> str:
        raw = self.secrets.new_token(TokenKind.REFRESH)
        await self.refresh_tokens.insert(
            RefreshTokenRecord(
                id=new_id(),
                session_id=session.id,
                user_id=session.user_id,
                token_hash=self.secrets.digest(raw),
                expires_at=session.refresh_expires_at,
                parent_id=parent_id,
                created_at=utcnow(),
            )
        )
        return raw

    def _pair(self, user: UserRecord, session: SessionRecord, access: str, refresh: str) -> TokenPair:
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_at=session.expires_at,
            refresh_expires_at=session.refresh_expires_at,
            session_id=session.id,
            user=UserMe.model_validate(user, from_attributes=True),
        )

    async def refresh(self, raw: str, client: ClientInfo | None = None) -> TokenPair:
        if self.throttle is not None and client is not None:
            await self.throttle.request(client.ip_address)
        if token_kind(raw) is not TokenKind.REFRESH or len(raw) > MAX_TOKEN_LENGTH:
            raise AppError(errors.AUTH_MALFORMED, "Not a refresh token")
        now = utcnow()
        if self.throttle is not None:
            # Metered before the claim, so a refused refresh leaves the token usable for the retry.
            known = await self.refresh_tokens.find_one({"tokenHash": self.secrets.digest(raw)})
            if known is not None:
                await self.throttle.account(known.user_id)
        token, first_use = await self.refresh_tokens.claim(self.secrets.digest(raw), now)
        if token is None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        if not first_use:
            await self.revoke_session(token.session_id, "refresh token reused")
            raise AppError(errors.AUTH_REFRESH_REUSED)
        session = await self.sessions.get(token.session_id)
        if session is None or session.revoked_at is not None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        if token.expires_at <= now:
            raise AppError(errors.AUTH_TOKEN_EXPIRED)
        user = await self.users.get(session.user_id)
        if user is None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        ensure_user_allowed(user)
        access = self.secrets.new_token(TokenKind.ACCESS)
        expires_at = now + timedelta(seconds=self.settings.access_token_ttl_seconds)
        session = await self.sessions.renew_access(session.id, self.secrets.digest(access), expires_at, now)
        if session is None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        refresh = await self._issue_refresh(session, parent_id=token.id)
        return self._pair(user, session, access, refresh)

    async def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            raise AppError(errors.FORBIDDEN, "API keys do not log out; revoke the key instead")
        await self.revoke_session(principal.session_id, "logout")

    async def revoke_session(self, session_id: str, reason: str) -> None:
        await self.sessions.revoke([session_id], utcnow(), reason)
        await self.sockets.disconnect_session(session_id, reason)

    async def revoke_all_sessions(self, user_id: str, reason: str, *, keep_session: str | None = None) -> int:
        now = utcnow()
        live = [s.id for s in await self.sessions.live_for_user(user_id) if s.id != keep_session]
        if not live:
            return 0
        count = await self.sessions.revoke(live, now, reason)
        for session_id in live:
            await self.sockets.disconnect_session(session_id, reason)
        return count

    async def list_sessions(self, principal: Principal) -> list[SessionPublic]:
        sessions = await self.sessions.active_for_user(principal.user_id, utcnow())
        return [
            SessionPublic.model_validate(s, from_attributes=True).model_copy(
                update={"current": s.id == principal.session_id}
            )
            for s in sessions
        ]

    async def end_session(self, principal: Principal, session_id: str) -> None:
        session = await self.sessions.get(session_id)
        if session is None or session.user_id != principal.user_id:
            raise AppError(errors.NOT_FOUND, "No such session")
        await self.revoke_session(session_id, "ended by user")

    # --- authentication ------------------------------------------------------------------------------
    async def authenticate(self, raw: object) -> Principal:
        """The principal behind an access token or API key, or a refusal with its code."""
        if not isinstance(raw, str) or not raw:
            raise AppError(errors.AUTH_REQUIRED)
        kind = token_kind(raw)
        if len(raw) > MAX_TOKEN_LENGTH or kind not in (TokenKind.ACCESS, TokenKind.API_KEY):
            raise AppError(errors.AUTH_MALFORMED, "Expected an access token (cna_...) or an API key (cnk_...)")
        if kind is TokenKind.API_KEY:
            return await self._authenticate_api_key(raw)
        return await self._authenticate_access(raw)

    async def _authenticate_access(self, raw: str) -> Principal:
        now = utcnow()
        session = await self.sessions.by_token_hash(self.secrets.digest(raw))
        if session is None or session.revoked_at is not None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        if session.expires_at <= now:
            raise AppError(errors.AUTH_TOKEN_EXPIRED)
        user = await self._allowed_user(session.user_id)
        if now - session.last_active_at >= LAST_ACTIVE_WRITE_INTERVAL:
            await self.sessions.set_fields(session.id, {"lastActiveAt": now})
        return Principal(user=user, session_id=session.id)

    async def _authenticate_api_key(self, raw: str) -> Principal:
        key: ApiKeyRecord | None = await self.api_keys.by_hash(self.secrets.digest(raw))
        if key is None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        if not key.is_active:
            raise AppError(errors.API_KEY_REVOKED)
        user = await self._allowed_user(key.user_id)
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at >= LAST_ACTIVE_WRITE_INTERVAL:
            await self.api_keys.set_fields(key.id, {"lastUsedAt": now})
        return Principal(user=user, api_key_id=key.id)

    async def _allowed_user(self, user_id: str) -> UserRecord:
        user = await self.users.get(user_id)
        if user is None:
            raise AppError(errors.AUTH_INVALID_TOKEN)
        ensure_user_allowed(user)
        return user
