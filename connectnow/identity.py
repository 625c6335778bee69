"""Who is calling, as every layer above the models sees it: the authenticated principal and its client.

Kept out of connectnow/services/auth.py (which creates principals) so that the realtime layer, which
remembers the principal of each socket, does not import the services above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.users import UserRecord


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, through a login session or through one of their API keys."""

    user: UserRecord
    session_id: str | None = None
    api_key_id: str | None = None

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def is_bot(self) -> bool:
        return self.api_key_id is not None or self.user.is_bot


@dataclass(frozen=True, slots=True)
class ClientInfo:
    user_agent: str | None
    ip_address: str | None
