"""Passwords and tokens.

Passwords: argon2id at or above the OWASP minimum (m >= 19 MiB, t >= 2), hashed off the event loop.
Tokens: opaque, 256 random bits from `secrets`, with a readable prefix telling their kind. Only an
HMAC-SHA256 digest keyed with CONNECTNOW_SECRET_KEY is stored, so a copy of the database alone cannot be
used to forge or recognise tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from enum import StrEnum

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from connectnow.config import Settings

TOKEN_BYTES = 32


class TokenKind(StrEnum):
    ACCESS = "cna"
    REFRESH = "cnr"
    API_KEY = "cnk"


def token_kind(raw: str) -> TokenKind | None:
    prefix, _, rest = raw.partition("_")
    if not rest:
        return None
    try:
        return TokenKind(prefix)
    except ValueError:
        return None


class Secrets:
    """Hashing of passwords and digests of tokens, configured once from the settings."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_bytes
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # A real hash to verify against when the user does not exist, so timing does not reveal it.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def new_token(self, kind: TokenKind) -> str:
        return f"{kind.value}_{secrets.token_urlsafe(TOKEN_BYTES)}"

    def digest(self, raw: str) -> str:
        return hmac.new(self._key, raw.encode(), hashlib.sha256).hexdigest()

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify_password(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash or self._dummy_hash, password, password_hash)

    def _verify(self, stored: str, password: str, real: str | None) -> bool:
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return real is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
