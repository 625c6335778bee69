"""Context summaries: one per booking, made by a provider behind `SummaryProvider`, stored encrypted with
an expiry from the host's retention setting; and the AI configurations that choose it.

Only the local rule-based provider runs here: external AI providers (openai, anthropic) are stored as
configuration, and a configuration naming one still gets the rule-based summary (`method: rule-based`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.crypto import KeyRing
from connectnow.errors import AppError
from connectnow.repositories.scheduling import AiConfigRepository, BookingRepository, SummaryRepository
from connectnow.services.scheduling.access import Actor, require_admin, require_visible
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.pii import redact
from connectnow.services.scheduling.retention import Retention
from connectnow.services.scheduling.sealing import seal, unseal
from connectnow.store.port import DocumentStore
from models.scheduling import BookingRecord
from models.scheduling_forms import (
    AiConfigPublic,
    AiConfigRecord,
    AiConfigUpdate,
    SummaryContent,
    SummaryPublic,
)
from models.scheduling_ops import JobRecord

GLOBAL_SCOPE = "global"
MAX_TOPIC_CHARS = 120


class SummaryProvider(Protocol):
    name: str

    async def summarize(self, booking: BookingRecord) -> SummaryContent: ...


class RuleBasedProvider:
    """Plain facts of the booking in one or two sentences; no model, no network."""

    name = "local"

    async def summarize(self, booking: BookingRecord) -> SummaryContent:
        topic = (booking.event_type_title or booking.title)[:MAX_TOPIC_CHARS]
        participants = (
            ["Anonymous attendee"] * len(booking.attendees) if booking.is_anonymous else booking.attendee_names
        )
        who = ", ".join(participants) if participants else "no listed attendees"
        where = f" at {booking.location}" if booking.location else ""
        when = booking.start_time.strftime("%Y-%m-%d %H:%M UTC")
        text = f"{booking.title}: a {booking.duration}-minute meeting{where} on {when} with {who}."
        if booking.sensitivity.value == "High":
            text += " Marked highly sensitive: share nothing outside the participants."
        return SummaryContent(
            topic=topic,
            participants=participants,
            sensitivity=booking.sensitivity.value,
            location=booking.location,
            when=booking.start_time,
            duration=booking.duration,
            plain_text=text,
            generated_at=utcnow(),
            method="rule-based",
        )


class SummaryService:
    def __init__(
        self,
        store: DocumentStore,
        ring: KeyRing,
        audit: AuditService,
        retention: Retention,
        phone_region: str | None = None,
    ) -> None:
        self.phone_region = phone_region
        self.repo = SummaryRepository(store)
        self.bookings = BookingRepository(store)
        self.configs = AiConfigRepository(store)
        self.ring = ring
        self.audit = audit
        self.retention = retention
        self.provider: SummaryProvider = RuleBasedProvider()

    async def active_config(self, user_id: str) -> AiConfigRecord | None:
        """The host's own active configuration, else the global one."""
        for scope in (f"user:{user_id}", GLOBAL_SCOPE):
            config = await self.configs.for_scope(scope)
            if config is not None and config.is_active:
                return config
        return None

    async def retention_days(self, user_id: str) -> int:
        """The active configuration's, else the setting (default 90)."""
        config = await self.active_config(user_id)
        return config.retention_days if config is not None else (await self.retention.current()).summary_days

    def redacted(self, content: SummaryContent) -> SummaryContent:
        """E-mail addresses, phone numbers and card-like numbers out of every text of the summary."""
        clean = partial(redact, region=self.phone_region)
        return content.model_copy(
            update={
                "topic": clean(content.topic),
                "plain_text": clean(content.plain_text),
                "location": clean(content.location) if content.location else content.location,
                "participants": [clean(p) for p in content.participants],
            }
        )

    async def generate(self, booking_id: str) -> dict[str, Any]:
        booking = await self.bookings.get(booking_id)
        if booking is None:
            return {"skipped": "booking deleted"}
        content = await self.provider.summarize(booking)
        config = await self.active_config(booking.user_id)
        pii_detection = config.pii_detection if config is not None else True  # the seed's default
        if pii_detection:
            content = self.redacted(content)
        now = utcnow()
        summary_id = new_id()
        days = config.retention_days if config is not None else (await self.retention.current()).summary_days
        from models.scheduling_forms import SummaryRecord

        await self.repo.insert(
            SummaryRecord(
                id=summary_id,
                booking_id=booking.id,
                host_id=booking.user_id,
                encrypted_summary=seal(
                    self.ring,
                    content.model_dump(mode="json", by_alias=True),
                    "context_summaries",
                    summary_id,
                    "encryptedSummary",
                ),
                metadata={
                    "method": content.method,
                    "provider": self.provider.name,
                    "generatedAt": now.isoformat(),
                    "piiRedacted": pii_detection,
                },
                expires_at=now + timedelta(days=days),
                created_at=now,
            )
        )
        await self.audit.record(None, "summary.create", "summary", summary_id, booking_id=booking.id)
        return {"summaryId": summary_id, "retentionDays": days}

    async def job(self, job: JobRecord) -> dict[str, Any]:
        return await self.generate(str(job.payload["bookingId"]))

    async def latest(self, actor: Actor, booking_id: str) -> SummaryPublic:
        booking = require_visible(actor, await self.bookings.get(booking_id))
        found = await self.repo.latest_live(booking.id, utcnow())
        if found is None:
            raise AppError(errors.NOT_FOUND, "No summary for this booking (not made yet, or expired)")
        content = unseal(self.ring, found.encrypted_summary, "context_summaries", found.id, "encryptedSummary")
        await self.audit.record(actor, "summary.read", "summary", found.id, booking_id=booking.id)
        return SummaryPublic(
            id=found.id,
            booking_id=found.booking_id,
            summary=SummaryContent.model_validate(content),
            expires_at=found.expires_at,
            created_at=found.created_at,
        )

    async def purge_expired(self) -> int:
        return await self.repo.purge_expired(utcnow())

    # --- AI configurations ----------------------------------------------------------------------------
    async def get_config(self, actor: Actor, *, global_scope: bool) -> AiConfigPublic:
        if global_scope:
            require_admin(actor)
        scope = GLOBAL_SCOPE if global_scope else f"user:{actor.user_id}"
        config = await self.configs.for_scope(scope)
        if config is None:
            raise AppError(errors.NOT_FOUND, "No AI configuration yet")
        return AiConfigPublic.model_validate(config, from_attributes=True)

    async def put_config(self, actor: Actor, body: AiConfigUpdate, *, global_scope: bool) -> AiConfigPublic:
        if global_scope:
            require_admin(actor)
        scope = GLOBAL_SCOPE if global_scope else f"user:{actor.user_id}"
        now = utcnow()
        fields = body.model_dump(by_alias=True, mode="json")
        on_insert = {"scope": scope, "createdAt": now, "userId": None if global_scope else actor.user_id}
        await self.configs.put(scope, {**fields, "updatedAt": now}, on_insert)
        config = await self.configs.for_scope(scope)
        assert isinstance(config, AiConfigRecord)
        await self.audit.record(actor, "aiConfig.update", "aiConfig", config.id)
        return AiConfigPublic.model_validate(config, from_attributes=True)
