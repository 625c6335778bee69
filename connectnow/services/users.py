"""Profiles, password changes and administrators' actions on users."""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.auth import AuthService, Principal
from models.users import AdminUserAction, PasswordChange, UserMe, UserPublic, UserRecord, UserUpdate

ADMIN_LIST_LIMIT = 200


def require_admin(principal: Principal) -> None:
    if not principal.user.is_admin:
        raise AppError(errors.ADMIN_REQUIRED)


class UserService:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        self.users = auth.users

    async def get_public(self, user_id: str) -> UserPublic:
        user = await self.users.get(user_id)
        if user is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        return UserPublic.model_validate(user, from_attributes=True)

    @staticmethod
    def me(user: UserRecord) -> UserMe:
        return UserMe.model_validate(user, from_attributes=True)

    async def update_me(self, principal: Principal, data: UserUpdate) -> UserMe:
        changes = data.model_dump(exclude_unset=True, by_alias=True)
        if not changes:
            return self.me(principal.user)
        changes["updatedAt"] = utcnow()
        # An explicit null clears an optional field (None is "absent" in the store).
        updated = await self.users.set_fields(principal.user_id, changes)
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        return self.me(updated)

    async def change_password(self, principal: Principal, data: PasswordChange) -> None:
        if principal.session_id is None:
            raise AppError(errors.FORBIDDEN, "Change the password from a login session, not with an API key")
        self.auth.check_password_policy(data.new_password)
        user = await self.users.get(principal.user_id)
        if user is None or not await self.auth.secrets.verify_password(user.password_hash, data.current_password):
            raise AppError(errors.AUTH_INVALID_CREDENTIALS, "The current password is wrong")
        new_hash = await self.auth.secrets.hash_password(data.new_password)
        await self.users.set_fields(user.id, {"passwordHash": new_hash, "updatedAt": utcnow()})
        await self.auth.revoke_all_sessions(user.id, "password changed", keep_session=principal.session_id)

    # --- administrators ------------------------------------------------------------------------------
    async def list_users(self, principal: Principal, *, offset: int, limit: int) -> list[UserMe]:
        require_admin(principal)
        users = await self.users.find({}, sort=[("createdAt", 1)], skip=offset, limit=min(limit, ADMIN_LIST_LIMIT))
        return [self.me(u) for u in users]

    async def set_banned(self, principal: Principal, user_id: str, banned: bool, action: AdminUserAction) -> UserMe:
        return await self._admin_set(
            principal,
            user_id,
            {"isBanned": banned, "bannedReason": action.reason if banned else None},
            banned,
        )

    async def set_active(self, principal: Principal, user_id: str, active: bool) -> UserMe:
        return await self._admin_set(principal, user_id, {"isActive": active}, not active)

    async def _admin_set(self, principal: Principal, user_id: str, fields: dict[str, object], cut_off: bool) -> UserMe:
        require_admin(principal)
        if user_id == principal.user_id and cut_off:
            raise AppError(errors.FORBIDDEN, "Administrators cannot ban or disable themselves")
        updated = await self.users.set_fields(user_id, {**fields, "updatedAt": utcnow()})
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        if cut_off:
            reason = "banned" if updated.is_banned else "disabled"
            await self.auth.revoke_all_sessions(user_id, reason)
            await self.auth.sockets.disconnect_user(user_id, reason)
        return self.me(updated)
