"""Operator actions from the dashboard (disconnect a user's sockets, ban, revoke a session) and their audit trail.

Every action is for server administrators only and leaves an audit entry, whether it was carried out or
refused for a reason other than the caller not being an administrator (a non-administrator's attempt is
refused before anything is looked up or written: it is counted in /metrics like every refusal).
"""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.base import Repository
from connectnow.services.auth import Principal
from connectnow.services.users import UserService, require_admin
from connectnow.store.port import DocumentStore
from models.auth import SessionPublic
from models.dashboard import (
    OperatorAction,
    OperatorActionKind,
    OperatorAuditEntry,
    OperatorAuditRecord,
)
from models.users import AdminUserAction

AUDIT_PAGE_MAX = 200


class OperatorAuditRepository(Repository[OperatorAuditRecord]):
    collection_name = "operator_audit"
    model = OperatorAuditRecord


class OperatorService:
    def __init__(self, store: DocumentStore, users: UserService) -> None:
        self.users = users
        self.auth = users.auth
        self.audit_log = OperatorAuditRepository(store)

    async def act(self, principal: Principal, action: OperatorAction) -> OperatorAuditEntry:
        require_admin(principal)
        try:
            await self._carry_out(principal, action)
        except AppError as exc:
            await self.record(principal, action.action, action.user_id, action.reason, exc.code, action.session_id)
            raise
        return await self.record(principal, action.action, action.user_id, action.reason, "done", action.session_id)

    async def _carry_out(self, principal: Principal, action: OperatorAction) -> None:
        target = await self.users.users.get(action.user_id)
        if target is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        if action.action is OperatorActionKind.DISCONNECT:
            await self.auth.sockets.disconnect_user(target.id, action.reason or "disconnected by an operator")
        elif action.action is OperatorActionKind.BAN:
            await self.users.set_banned(principal, target.id, True, AdminUserAction(reason=action.reason))
        else:
            await self._revoke_session(target.id, action.session_id)

    async def _revoke_session(self, user_id: str, session_id: str | None) -> None:
        if session_id is None:
            raise AppError(errors.VALIDATION_FAILED, "revokeSession needs sessionId")
        session = await self.auth.sessions.get(session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            raise AppError(errors.NOT_FOUND, "No such live session of this user")
        await self.auth.revoke_session(session_id, "revoked by an operator")

    async def record(
        self,
        principal: Principal,
        action: str,
        user_id: str,
        reason: str | None,
        outcome: str,
        session_id: str | None = None,
    ) -> OperatorAuditEntry:
        """Write one audit entry (also used by the admin REST endpoints that ban, unban, disable, enable)."""
        target = await self.users.users.get(user_id)
        entry = OperatorAuditRecord(
            id=new_id(),
            actor_id=principal.user_id,
            actor_username=principal.user.username,
            action=action,
            target_user_id=user_id,
            target_username=target.username if target else None,
            target_session_id=session_id,
            reason=reason,
            outcome=outcome,
            created_at=utcnow(),
        )
        await self.audit_log.insert(entry)
        return entry

    async def audit(
        self, principal: Principal, *, user_id: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[OperatorAuditEntry]:
        require_admin(principal)
        flt: dict[str, object] = {} if user_id is None else {"targetUserId": user_id}
        found = await self.audit_log.find(
            flt, sort=[("createdAt", -1), ("id", -1)], skip=offset, limit=min(limit, AUDIT_PAGE_MAX)
        )
        return found

    async def sessions(self, principal: Principal, user_id: str) -> list[SessionPublic]:
        """A user's live login sessions (what `revokeSession` can end)."""
        require_admin(principal)
        live = await self.auth.sessions.active_for_user(user_id, utcnow())
        return [SessionPublic.model_validate(s, from_attributes=True) for s in live]
