"""The operators' dashboard: drill-downs, operator actions and their audit trail."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel


class MembersQuery(InputModel):
    """One page of a workspace's members, optionally only those whose name contains `q`."""

    workspace_id: IdStr
    q: Annotated[str, Text(0, 100)] = ""
    offset: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=200)


class MemberRow(WireModel):
    user_id: str
    username: str
    display_name: str
    role: str
    status: str
    status_text: str | None = None
    last_seen_at: UtcDateTime | None = None
    devices: int
    is_banned: bool = False


class MembersPage(WireModel):
    workspace_id: str
    total: int  # members matching `q` (all members without it)
    offset: int
    members: list[MemberRow]


class OperatorActionKind(StrEnum):
    DISCONNECT = "disconnect"  # close every socket of the user, on every worker; sessions stay valid
    BAN = "ban"  # ban the account: sessions revoked, sockets closed, log-in refused
    REVOKE_SESSION = "revokeSession"  # end one login session and close its sockets


class OperatorAction(InputModel):
    action: OperatorActionKind
    user_id: IdStr
    session_id: IdStr | None = None  # required for revokeSession
    reason: Annotated[str, Text(0, 500)] | None = None


class OperatorAuditRecord(StoredModel):
    actor_id: str
    actor_username: str
    action: str
    target_user_id: str
    target_username: str | None = None
    target_session_id: str | None = None
    reason: str | None = None
    outcome: str  # "done", or the error code that refused it
    created_at: UtcDateTime


# The record is the wire shape too: nothing in an audit entry is secret from the administrators who read it.
OperatorAuditEntry = OperatorAuditRecord
