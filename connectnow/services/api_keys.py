"""Bot API keys (seed 000 apiKeys): the raw key is shown once, only its digest is kept."""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.security import TokenKind
from connectnow.services.auth import AuthService, Principal
from models.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeyRecord

MAX_KEYS_PER_USER = 50
PREFIX_LENGTH = 12


class ApiKeyService:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        self.keys = auth.api_keys

    async def create(self, principal: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
        if principal.session_id is None:
            raise AppError(errors.FORBIDDEN, "API keys are created from a login session")
        if await self.keys.count({"userId": principal.user_id, "isActive": True}) >= MAX_KEYS_PER_USER:
            raise AppError(errors.CONFLICT, f"At most {MAX_KEYS_PER_USER} active API keys per user")
        raw = self.auth.secrets.new_token(TokenKind.API_KEY)
        record = ApiKeyRecord(
            id=new_id(),
            user_id=principal.user_id,
            name=data.name,
            key_hash=self.auth.secrets.digest(raw),
            prefix=raw[:PREFIX_LENGTH],
            created_at=utcnow(),
        )
        await self.keys.insert(record)
        public = ApiKeyPublic.model_validate(record, from_attributes=True)
        return ApiKeyCreated(**public.model_dump(), key=raw)

    async def list(self, principal: Principal) -> list[ApiKeyPublic]:
        records = await self.keys.find({"userId": principal.user_id}, sort=[("createdAt", -1)])
        return [ApiKeyPublic.model_validate(r, from_attributes=True) for r in records]

    async def revoke(self, principal: Principal, key_id: str) -> ApiKeyPublic:
        record = await self.keys.deactivate(key_id, principal.user_id, utcnow())
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such API key")
        await self.auth.sockets.disconnect_api_key(key_id, "API key revoked")
        return ApiKeyPublic.model_validate(record, from_attributes=True)
