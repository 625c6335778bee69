"""Audit logs: every read and write of a booking, form response or summary, and admin listing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectnow.clock import new_id, utcnow
from connectnow.repositories.scheduling import AuditRepository
from connectnow.services.scheduling.access import Actor, require_admin
from connectnow.services.scheduling.retention import Retention
from connectnow.store.port import DocumentStore
from models.scheduling_ops import AuditPublic, AuditQuery, AuditRecord

SYSTEM_ACTOR = "system"


class AuditService:
    def __init__(self, store: DocumentStore, retention: Retention) -> None:
        self.repo = AuditRepository(store)
        self.retention = retention

    async def record(
        self,
        actor: Actor | None,
        action: str,
        resource: str,
        resource_id: str | None = None,
        *,
        booking_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """One line per access. `actor` None means a background job (metadata.actor says which)."""
        await self.repo.insert(
            AuditRecord(
                id=new_id(),
                user_id=actor.user_id if actor else None,
                booking_id=booking_id,
                action=action,
                resource=resource,
                resource_id=resource_id,
                ip_address=actor.client.ip_address if actor else None,
                user_agent=(actor.client.user_agent or "")[:500] or None if actor else None,
                metadata=metadata if actor else {"actor": SYSTEM_ACTOR, **(metadata or {})},
                created_at=utcnow(),
            )
        )

    async def list(self, actor: Actor, query: AuditQuery) -> list[AuditPublic]:
        require_admin(actor)
        equal: dict[str, str] = {}
        for name in ("user_id", "booking_id", "action", "resource", "resource_id"):
            value = getattr(query, name)
            if value is not None:
                equal[AuditQuery.model_fields[name].alias or name] = value
        rows = await self.repo.search(equal, query.since, query.until, limit=query.limit, skip=query.offset)
        await self.record(actor, "audit.list", "auditLog", metadata={"returned": len(rows)})
        return [AuditPublic.model_validate(r, from_attributes=True) for r in rows]

    async def purge(self, now: datetime) -> int:
        return await self.repo.purge_before(now - (await self.retention.current()).audit)
