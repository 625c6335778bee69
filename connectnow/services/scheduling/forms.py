"""Intake forms and their responses.

A form is a JSON Schema (draft 2020-12) of an object's fields plus conditional rules, tied to one of its
owner's event types. A response is validated against both, then stored as AES-GCM ciphertext bound to its
record; beside it sits a redacted copy for analytics that never holds free text: which fields were
answered, and the values of fields the owner marked `"x-analytics": true` (booleans, numbers, enums).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.crypto import KeyRing
from connectnow.errors import AppError
from connectnow.repositories.scheduling import BookingRepository, FormRepository, FormResponseRepository
from connectnow.services.scheduling import conditions
from connectnow.services.scheduling.access import Actor, require_visible
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.form_schema import MAX_DEPTH, answer_validator, check_schema_safety, nesting_depth
from connectnow.services.scheduling.retention import Retention
from connectnow.services.scheduling.sealing import seal, unseal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.scheduling import ACTIVE_STATUSES, BookingRecord, BookingStatus
from models.scheduling_forms import (
    MAX_ANSWERS_BYTES,
    MAX_SCHEMA_BYTES,
    ConditionalRule,
    FormCreate,
    FormPublic,
    FormRecord,
    FormResponseCreate,
    FormResponsePublic,
    FormResponseRecord,
    FormUpdate,
)

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_FIELDS = 200
ANALYTICS_FLAG = "x-analytics"
MAX_SCHEMA_ERRORS = 20


def _analytics_safe(prop: dict[str, Any]) -> bool:
    """Only closed answers may be copied in clear: booleans, numbers and enumerations."""
    return "enum" in prop or prop.get("type") in ("boolean", "integer", "number")


def check_form_schema(schema: dict[str, Any], rules: list[ConditionalRule]) -> None:
    if nesting_depth(schema) > MAX_DEPTH:  # first: everything below recurses per level
        raise AppError(
            errors.FORM_SCHEMA_INVALID, details={"errors": [f"the schema nests deeper than {MAX_DEPTH} levels"]}
        )
    problems: list[str] = []
    if len(orjson.dumps(schema)) > MAX_SCHEMA_BYTES:
        problems.append(f"the schema is larger than {MAX_SCHEMA_BYTES} bytes")
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        problems.append('the schema must be {"type": "object", "properties": {...}}')
    else:
        props: dict[str, Any] = schema["properties"]
        if not props or len(props) > MAX_FIELDS:
            problems.append(f"a form has 1 to {MAX_FIELDS} fields")
        for name, prop in props.items():
            if not FIELD_NAME.match(name):
                problems.append(f"field name {name[:70]!r} must be a letter then letters, digits or _")
            elif not isinstance(prop, dict):
                problems.append(f"field {name} must be described by an object")
            elif prop.get(ANALYTICS_FLAG) and not _analytics_safe(prop):
                problems.append(f"field {name}: only booleans, numbers and enums may be marked {ANALYTICS_FLAG}")
        unknown = conditions.referenced_fields(rules) - set(props)
        if unknown:
            problems.append(f"conditional rules name unknown fields: {', '.join(sorted(unknown))}")
    if not problems:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"not a valid JSON Schema: {exc.message[:200]}")
    if not problems:
        problems.extend(check_schema_safety(schema))
    if problems:
        raise AppError(errors.FORM_SCHEMA_INVALID, details={"errors": problems[:MAX_SCHEMA_ERRORS]})


def validate_answers(form: FormRecord, answers: dict[str, Any]) -> None:
    if nesting_depth(answers) > MAX_DEPTH:
        raise AppError(
            errors.FORM_RESPONSE_INVALID, details={"errors": [{"field": None, "problem": "depth", "rule": None}]}
        )
    if len(orjson.dumps(answers)) > MAX_ANSWERS_BYTES:
        raise AppError(errors.PAYLOAD_TOO_LARGE, f"Answers are limited to {MAX_ANSWERS_BYTES} bytes")
    schema = {"additionalProperties": False, **form.schema_}
    # A form saved before these checks existed may break them: refuse it rather than run it.
    unsafe = check_schema_safety(schema) if nesting_depth(schema) <= MAX_DEPTH else ["the schema nests too deeply"]
    if unsafe:
        raise AppError(errors.FORM_SCHEMA_INVALID, details={"errors": unsafe})
    found: list[dict[str, Any]] = []
    for err in sorted(answer_validator(schema).iter_errors(answers), key=lambda e: list(e.path)):
        field = ".".join(str(p) for p in err.path) or None
        # The message may quote the offending answer: report only the kind of failure.
        found.append({"field": field, "problem": err.validator, "rule": None})
    rules = [ConditionalRule.model_validate(r) for r in form.conditional_logic]
    found.extend(conditions.violations(rules, answers))
    if found:
        raise AppError(errors.FORM_RESPONSE_INVALID, details={"errors": found[:MAX_SCHEMA_ERRORS]})


def redacted_copy(form: FormRecord, answers: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = form.schema_.get("properties", {})
    safe = {k: v for k, v in answers.items() if props.get(k, {}).get(ANALYTICS_FLAG) and _analytics_safe(props[k])}
    return {"answeredFields": sorted(k for k, v in answers.items() if v not in (None, "", [])), "analytics": safe}


def form_public(record: FormRecord) -> FormPublic:
    # By alias: `schema` would otherwise resolve to pydantic's BaseModel.schema method.
    return FormPublic.model_validate(record.model_dump(by_alias=True))


class FormService:
    def __init__(self, store: DocumentStore, ring: KeyRing, audit: AuditService, retention: Retention) -> None:
        self.forms = FormRepository(store)
        self.responses = FormResponseRepository(store)
        self.bookings = BookingRepository(store)
        self.ring = ring
        self.audit = audit
        self.retention = retention

    # --- forms ----------------------------------------------------------------------------------------
    async def create(self, actor: Actor, body: FormCreate) -> FormPublic:
        check_form_schema(body.schema_, body.conditional_logic)
        now = utcnow()
        record = FormRecord(
            id=new_id(),
            user_id=actor.user_id,
            name=body.name,
            description=body.description,
            event_type_id=body.event_type_id,
            is_active=body.is_active,
            schema_=body.schema_,
            conditional_logic=[r.model_dump(by_alias=True, mode="json") for r in body.conditional_logic],
            created_at=now,
            updated_at=now,
        )
        await self.forms.insert(record)
        await self.audit.record(actor, "form.create", "form", record.id)
        return form_public(record)

    async def _owned(self, actor: Actor, form_id: str) -> FormRecord:
        form = await self.forms.get(form_id)
        if form is None or (form.user_id != actor.user_id and not actor.is_admin):
            raise AppError(errors.NOT_FOUND, "No such form")
        return form

    async def update(self, actor: Actor, form_id: str, body: FormUpdate) -> FormPublic:
        form = await self._owned(actor, form_id)
        schema = body.schema_ if body.schema_ is not None else form.schema_
        rules = (
            body.conditional_logic
            if body.conditional_logic is not None
            else [ConditionalRule.model_validate(r) for r in form.conditional_logic]
        )
        check_form_schema(schema, rules)
        fields: dict[str, Any] = {
            "schema": schema,
            "conditionalLogic": [r.model_dump(by_alias=True, mode="json") for r in rules],
        }
        for name in ("name", "description", "is_active"):
            value = getattr(body, name)
            if value is not None:
                fields[FormUpdate.model_fields[name].alias or name] = value
        updated = await self.forms.set_fields(form.id, {**fields, "updatedAt": utcnow()})
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such form")
        await self.audit.record(actor, "form.update", "form", form.id)
        return form_public(updated)

    async def get(self, form_id: str) -> FormPublic:
        """Any signed-in user may read a form to fill it: it holds questions, not answers."""
        form = await self.forms.get(form_id)
        if form is None:
            raise AppError(errors.NOT_FOUND, "No such form")
        return form_public(form)

    async def list_for(self, user_id: str, event_type_id: int | None) -> list[FormPublic]:
        flt: dict[str, Any] = {"userId": user_id}
        if event_type_id is not None:
            flt["eventTypeId"] = event_type_id
        rows = await self.forms.find(flt, sort=[("createdAt", 1)], limit=200)
        return [form_public(f) for f in rows]

    # --- responses ------------------------------------------------------------------------------------
    async def submit(self, actor: Actor, form_id: str, body: FormResponseCreate) -> FormResponsePublic:
        form = await self.forms.get(form_id)
        if form is None:
            raise AppError(errors.NOT_FOUND, "No such form")
        booking = require_visible(actor, await self.bookings.get(body.booking_id))
        if form.user_id != booking.user_id or form.event_type_id != booking.event_type_id:
            raise AppError(errors.FORM_BOOKING_MISMATCH)
        if not form.is_active:
            raise AppError(errors.FORM_INACTIVE)
        if booking.status not in ACTIVE_STATUSES:
            raise AppError(errors.BOOKING_STATUS_INVALID, details={"status": booking.status.value})
        validate_answers(form, body.answers)
        now = utcnow()
        response_id = new_id()
        record = FormResponseRecord(
            id=response_id,
            form_id=form.id,
            booking_id=booking.id,
            host_id=form.user_id,
            submitted_by=actor.user_id,
            encrypted_data=seal(self.ring, body.answers, "form_responses", response_id, "encryptedData"),
            metadata={"fieldCount": len(body.answers)},
            redacted_data=redacted_copy(form, body.answers),
            retain_until=await self.retain_until(booking),
            created_at=now,
        )
        try:
            await self.responses.insert(record)
        except DuplicateKeyError as exc:
            raise AppError(errors.CONFLICT, "This booking already has a response to this form") from exc
        await self.audit.record(actor, "formResponse.create", "formResponse", response_id, booking_id=booking.id)
        return self._public(record, body.answers)

    async def retain_until(self, booking: BookingRecord) -> datetime:
        """Form data lives the form retention past the meeting's end, or past its cancellation."""
        period = (await self.retention.current()).form
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.REJECTED):
            return min(booking.end_time, booking.updated_at) + period
        return booking.end_time + period

    async def follow_booking(self, booking: BookingRecord) -> None:
        """A booking moved or closed: its responses' retention follows it."""
        await self.responses.retain_for_booking(booking.id, await self.retain_until(booking))

    def _public(self, record: FormResponseRecord, answers: dict[str, Any]) -> FormResponsePublic:
        return FormResponsePublic(
            id=record.id,
            form_id=record.form_id,
            booking_id=record.booking_id,
            submitted_by=record.submitted_by,
            answers=answers,
            redacted_data=record.redacted_data,
            created_at=record.created_at,
        )

    async def read_response(self, actor: Actor, response_id: str) -> FormResponsePublic:
        record = await self.responses.get(response_id)
        # Past its retention a response is gone, whether or not the purge job has run yet.
        if record is None or record.retain_until <= utcnow():
            raise AppError(errors.NOT_FOUND, "No such form response")
        if actor.user_id not in (record.host_id, record.submitted_by) and not actor.is_admin:
            raise AppError(errors.NOT_FOUND, "No such form response")
        answers = unseal(self.ring, record.encrypted_data, "form_responses", record.id, "encryptedData")
        await self.audit.record(actor, "formResponse.read", "formResponse", record.id, booking_id=record.booking_id)
        return self._public(record, answers)

    async def list_responses(self, actor: Actor, form_id: str, *, limit: int = 50) -> list[FormResponsePublic]:
        form = await self._owned(actor, form_id)
        out: list[FormResponsePublic] = []
        for record in await self.responses.live_for_form(form.id, utcnow(), limit=limit):
            answers = unseal(self.ring, record.encrypted_data, "form_responses", record.id, "encryptedData")
            await self.audit.record(actor, "formResponse.read", "formResponse", record.id, booking_id=record.booking_id)
            out.append(self._public(record, answers))
        return out

    async def analytics(self, actor: Actor, form_id: str) -> list[dict[str, Any]]:
        """The redacted copies only: nothing is decrypted."""
        form = await self._owned(actor, form_id)
        rows = await self.responses.find({"formId": form.id}, sort=[("createdAt", -1)], limit=1000)
        await self.audit.record(actor, "formResponse.analytics", "form", form.id, metadata={"count": len(rows)})
        return [{"id": r.id, "createdAt": r.created_at.isoformat(), **(r.redacted_data or {})} for r in rows]
