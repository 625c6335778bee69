"""E-mail verification and password reset: single-use, expiring tokens, stored only as digests.

A token is 32 random bytes (URL-safe) sent by mail; the store keeps its SHA-256 digest (Secrets.digest), the
purpose, the user and the expiry. Using one is a single conditional update (`usedAt` unset and not expired),
so two concurrent uses of the same link succeed once. Asking for a reset answers the same whether or not the
address exists (no account enumeration). A reset signs the user out everywhere.
"""

from __future__ import annotations

import secrets as pysecrets
from datetime import timedelta

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.mail import Mailer
from connectnow.repositories.accounts import AccountTokenRecord, AccountTokenRepository
from connectnow.services.auth import AuthService, Principal

VERIFY, RESET = "verify", "reset"


class AccountService:
    def __init__(self, auth: AuthService, mailer: Mailer) -> None:
        self.auth = auth
        self.mailer = mailer
        self.tokens = AccountTokenRepository(auth.users.store)
        self.settings = auth.settings

    async def _limit(self, address: str | None, account: str | None = None) -> None:
        """Mail and token requests share the sign-in limits (per client address, per account): each can send a
        mail or spend a hash, so neither may be repeated without bound."""
        throttle = self.auth.throttle
        if throttle is None:
            return
        await throttle.request(address)
        if account is not None:
            await throttle.account(account)

    def _link(self, path: str, token: str) -> str:
        base = (self.settings.public_url or "").rstrip("/")
        return f"{base}/{path}?token={token}"

    async def _issue(self, user_id: str, purpose: str, ttl_seconds: int) -> str:
        raw = pysecrets.token_urlsafe(32)
        now = utcnow()
        record = AccountTokenRecord(
            id=new_id(), user_id=user_id, purpose=purpose, token_hash=self.auth.secrets.digest(raw),
            expires_at=now + timedelta(seconds=ttl_seconds), created_at=now,
        )  # fmt: skip
        await self.tokens.insert(record)
        return raw

    async def _use(self, raw: str, purpose: str) -> AccountTokenRecord:
        now = utcnow()
        used = await self.tokens.use(self.auth.secrets.digest(raw), purpose, now)
        if used is None:
            raise AppError(errors.ACCOUNT_TOKEN_INVALID)
        return used

    # --- e-mail verification -------------------------------------------------------------------------
    async def request_verification(self, principal: Principal, address: str | None = None) -> None:
        user = principal.user
        await self._limit(address, f"verify:{user.id}")
        if user.email_verified:
            return
        token = await self._issue(user.id, VERIFY, self.settings.email_verify_ttl_seconds)
        body = f"Confirm your address for ConnectNow:\n\n{self._link('verify-email', token)}\n\ntoken: {token}\n"
        await self.mailer.send(user.email, "Confirm your e-mail address", body)

    async def verify(self, raw: str, address: str | None = None) -> None:
        await self._limit(address)
        token = await self._use(raw, VERIFY)
        await self.auth.users.set_fields(token.user_id, {"emailVerified": True, "updatedAt": utcnow()})

    # --- password reset ------------------------------------------------------------------------------
    async def request_reset(self, email: str, address: str | None = None) -> None:
        await self._limit(address, f"reset:{email.lower()}")
        user = await self.auth.users.find_one({"emailLower": email.lower()})
        if user is None or user.is_banned or not user.is_active:
            return  # same answer either way: no account enumeration
        token = await self._issue(user.id, RESET, self.settings.password_reset_ttl_seconds)
        body = f"Reset your ConnectNow password:\n\n{self._link('reset-password', token)}\n\ntoken: {token}\n"
        await self.mailer.send(user.email, "Reset your password", body)

    async def reset(self, raw: str, password: str, address: str | None = None) -> None:
        await self._limit(address)
        self.auth.check_password_policy(password)  # before the token is spent
        token = await self._use(raw, RESET)
        digest = await self.auth.secrets.hash_password(password)
        await self.auth.users.set_fields(token.user_id, {"passwordHash": digest, "updatedAt": utcnow()})
        await self.auth.revoke_all_sessions(token.user_id, "password reset")
