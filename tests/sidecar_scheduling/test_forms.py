"""Intake forms: schema and conditional rules, validated encrypted responses, redacted analytics copy."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectnow.errors import AppError
from connectnow.services.scheduling import SchedulingServices
from connectnow.services.scheduling.access import Actor
from connectnow.store.port import DocumentStore
from models.scheduling import BookingCreate
from models.scheduling_forms import FormCreate, FormResponseCreate, FormUpdate
from tests.sidecar_scheduling.conftest import MakeActor, booking_body

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": 2000},
        "firstVisit": {"type": "boolean", "x-analytics": True},
        "urgency": {"type": "string", "enum": ["low", "medium", "high"], "x-analytics": True},
        "urgentDetails": {"type": "string", "maxLength": 500},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "referredBy": {"type": "string"},
    },
    "required": ["reason", "urgency"],
}
RULES: list[dict[str, Any]] = [
    {"when": [{"field": "urgency", "op": "equals", "value": "high"}], "then": {"require": ["urgentDetails"]}},
    {"when": [{"field": "firstVisit", "op": "equals", "value": False}], "then": {"hide": ["referredBy"]}},
]


async def setup(sch: SchedulingServices, make_actor: MakeActor) -> tuple[Actor, Actor, str, str]:
    host, guest = await make_actor(), await make_actor()
    form = await sch.forms.create(
        host,
        FormCreate.model_validate({"name": "Intake", "eventTypeId": 7, "schema": SCHEMA, "conditionalLogic": RULES}),
    )
    booking = await sch.bookings.create(
        guest, BookingCreate.model_validate(booking_body(host, "2027-01-05 09:00", "2027-01-05 10:00"))
    )
    return host, guest, form.id, booking.id


async def submit(sch: SchedulingServices, actor: Actor, form_id: str, booking_id: str, answers: dict[str, Any]) -> Any:
    return await sch.forms.submit(
        actor, form_id, FormResponseCreate.model_validate({"bookingId": booking_id, "answers": answers})
    )


async def test_valid_response_is_encrypted_with_a_redacted_copy(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest, form_id, booking_id = await setup(sch, make_actor)
    answers = {"reason": "My marriage is in crisis", "urgency": "high", "urgentDetails": "tonight", "firstVisit": True}
    created = await submit(sch, guest, form_id, booking_id, answers)
    assert created.answers == answers
    stored = await store.collection("form_responses").find_one({"id": created.id})
    assert stored is not None and "answers" not in stored
    assert "marriage" not in str(stored) and "tonight" not in str(stored)
    assert stored["redactedData"] == {
        "answeredFields": ["firstVisit", "reason", "urgency", "urgentDetails"],
        "analytics": {"firstVisit": True, "urgency": "high"},
    }
    assert (await sch.forms.read_response(host, created.id)).answers == answers
    assert (await sch.forms.read_response(guest, created.id)).answers == answers
    assert [r.id for r in await sch.forms.list_responses(host, form_id)] == [created.id]
    analytics = await sch.forms.analytics(host, form_id)
    assert analytics[0]["analytics"] == {"firstVisit": True, "urgency": "high"} and "marriage" not in str(analytics)
    with pytest.raises(AppError) as info:  # one response per booking and form
        await submit(sch, guest, form_id, booking_id, answers)
    assert info.value.code == "CONFLICT"


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"urgency": "low"}, [{"field": None, "problem": "required", "rule": None}]),
        ({"reason": "x", "urgency": "extreme"}, [{"field": "urgency", "problem": "enum", "rule": None}]),
        ({"reason": "x", "urgency": "low", "age": 200}, [{"field": "age", "problem": "maximum", "rule": None}]),
        ({"reason": "x", "urgency": "low", "age": "12"}, [{"field": "age", "problem": "type", "rule": None}]),
        ({"reason": {"$ne": None}, "urgency": "low"}, [{"field": "reason", "problem": "type", "rule": None}]),
        (
            {"reason": "x", "urgency": "low", "extra": 1},
            [{"field": None, "problem": "additionalProperties", "rule": None}],
        ),
        ({"reason": "x", "urgency": "high"}, [{"field": "urgentDetails", "problem": "required", "rule": 0}]),
        (
            {"reason": "x", "urgency": "high", "urgentDetails": ""},
            [{"field": "urgentDetails", "problem": "required", "rule": 0}],
        ),
        (
            {"reason": "x", "urgency": "low", "firstVisit": False, "referredBy": "Tom"},
            [{"field": "referredBy", "problem": "notAllowed", "rule": 1}],
        ),
    ],
)
async def test_answers_violating_schema_or_rules(
    sch: SchedulingServices, make_actor: MakeActor, answers: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    _, guest, form_id, booking_id = await setup(sch, make_actor)
    with pytest.raises(AppError) as info:
        await submit(sch, guest, form_id, booking_id, answers)
    assert info.value.code == "FORM_RESPONSE_INVALID"
    assert info.value.details == {"errors": expected}
    assert "Tom" not in str(info.value.body())  # answers are never echoed
    assert await sch.forms.responses.count({}) == 0


async def test_response_to_another_users_form_is_refused(sch: SchedulingServices, make_actor: MakeActor) -> None:
    _, guest, _, booking_id = await setup(sch, make_actor)
    other_host = await make_actor()
    foreign = await sch.forms.create(
        other_host, FormCreate.model_validate({"name": "Other", "eventTypeId": 7, "schema": SCHEMA})
    )
    with pytest.raises(AppError) as info:
        await submit(sch, guest, foreign.id, booking_id, {"reason": "x", "urgency": "low"})
    assert info.value.code == "FORM_BOOKING_MISMATCH"


async def test_form_for_another_event_type_or_inactive(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest, form_id, booking_id = await setup(sch, make_actor)
    wrong_type = await sch.forms.create(
        host, FormCreate.model_validate({"name": "W", "eventTypeId": 8, "schema": SCHEMA})
    )
    with pytest.raises(AppError) as info:
        await submit(sch, guest, wrong_type.id, booking_id, {"reason": "x", "urgency": "low"})
    assert info.value.code == "FORM_BOOKING_MISMATCH"
    await sch.forms.update(host, form_id, FormUpdate.model_validate({"isActive": False}))
    with pytest.raises(AppError) as info:
        await submit(sch, guest, form_id, booking_id, {"reason": "x", "urgency": "low"})
    assert info.value.code == "FORM_INACTIVE"


async def test_strangers_cannot_answer_or_read(sch: SchedulingServices, make_actor: MakeActor) -> None:
    _host, guest, form_id, booking_id = await setup(sch, make_actor)
    stranger = await make_actor()
    with pytest.raises(AppError) as info:
        await submit(sch, stranger, form_id, booking_id, {"reason": "x", "urgency": "low"})
    assert info.value.code == "NOT_FOUND"
    created = await submit(sch, guest, form_id, booking_id, {"reason": "x", "urgency": "low"})
    for call in (
        sch.forms.read_response(stranger, created.id),
        sch.forms.list_responses(stranger, form_id),
        sch.forms.analytics(stranger, form_id),
        sch.forms.update(stranger, form_id, FormUpdate.model_validate({"name": "mine"})),
    ):
        with pytest.raises(AppError) as info:
            await call
        assert info.value.code == "NOT_FOUND"


async def test_closed_booking_takes_no_response(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest, form_id, booking_id = await setup(sch, make_actor)
    await sch.bookings.transition(host, booking_id, "reject", "no")
    with pytest.raises(AppError) as info:
        await submit(sch, guest, form_id, booking_id, {"reason": "x", "urgency": "low"})
    assert info.value.code == "BOOKING_STATUS_INVALID"


async def test_oversized_answers(sch: SchedulingServices, make_actor: MakeActor) -> None:
    _, guest, form_id, booking_id = await setup(sch, make_actor)
    with pytest.raises(AppError) as info:
        await submit(sch, guest, form_id, booking_id, {"reason": "x" * 70_000, "urgency": "low"})
    assert info.value.code == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("schema", "rules"),
    [
        ({"type": "array"}, []),
        ({"type": "object", "properties": {}}, []),
        ({"type": "object", "properties": {"bad name": {"type": "string"}}}, []),
        ({"type": "object", "properties": {"a": {"type": "string", "x-analytics": True}}}, []),
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, []),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}},
            [{"when": [{"field": "b", "op": "answered"}], "then": {"require": ["a"]}}],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}},
            [{"when": [{"field": "a", "op": "answered"}], "then": {"hide": ["zz"]}}],
        ),
    ],
)
async def test_invalid_form_definitions(
    sch: SchedulingServices, make_actor: MakeActor, schema: dict[str, Any], rules: list[dict[str, Any]]
) -> None:
    host = await make_actor()
    body = FormCreate.model_validate({"name": "F", "eventTypeId": 1, "schema": schema, "conditionalLogic": rules})
    with pytest.raises(AppError) as info:
        await sch.forms.create(host, body)
    assert info.value.code == "FORM_SCHEMA_INVALID"
    assert await sch.forms.forms.count({}) == 0


@pytest.mark.parametrize(
    "rules",
    [
        [{"when": [{"field": "a", "op": "matches"}], "then": {}}],
        [{"when": [], "then": {"require": ["a"]}}],
        [{"when": [{"field": "a", "op": "answered"}], "then": {"require": ["a"]}, "eval": "x"}],
    ],
)
def test_malformed_rules_refused_by_shape(rules: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        FormCreate.model_validate({"name": "F", "eventTypeId": 1, "schema": SCHEMA, "conditionalLogic": rules})


async def test_conditional_operators(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host = await make_actor()
    guest = await make_actor()
    rules = [
        {"when": [{"field": "age", "op": "lessThan", "value": 18}], "then": {"require": ["referredBy"]}},
        {
            "when": [
                {"field": "urgency", "op": "in", "value": ["medium", "high"]},
                {"field": "age", "op": "greaterThan", "value": 80},
            ],
            "match": "any",
            "then": {"require": ["urgentDetails"]},
        },
        {"when": [{"field": "reason", "op": "notAnswered"}], "then": {"hide": ["age"]}},
    ]
    schema = {**SCHEMA, "required": []}
    form = await sch.forms.create(
        host, FormCreate.model_validate({"name": "Ops", "eventTypeId": 7, "schema": schema, "conditionalLogic": rules})
    )
    problems: list[Any] = []
    for start, answers in (
        ("09", {"age": 12, "reason": "x"}),
        ("11", {"urgency": "medium", "reason": "x"}),
        ("13", {"age": 90, "reason": "x"}),
        ("15", {"age": 40}),
    ):
        booking = await sch.bookings.create(
            guest, BookingCreate.model_validate(booking_body(host, f"2027-01-05 {start}:00", f"2027-01-05 {start}:30"))
        )
        with pytest.raises(AppError) as info:
            await submit(sch, guest, form.id, booking.id, answers)
        problems.append(info.value.details)
    assert [p["errors"][0]["rule"] for p in problems] == [0, 1, 1, 2]
    ok = await sch.bookings.create(
        guest, BookingCreate.model_validate(booking_body(host, "2027-01-05 17:00", "2027-01-05 17:30"))
    )
    await submit(sch, guest, form.id, ok.id, {"age": 40, "reason": "x", "urgency": "low"})
