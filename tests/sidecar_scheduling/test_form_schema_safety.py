"""Issue 14: form schemas never reach the network and their patterns cannot stall the event loop."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from connectnow.errors import AppError
from connectnow.services.scheduling import SchedulingServices
from connectnow.services.scheduling.forms import check_form_schema, validate_answers
from models.scheduling import BookingCreate
from models.scheduling_forms import FormCreate, FormRecord, FormResponseCreate
from tests.sidecar_scheduling.conftest import MakeActor, booking_body


def schema(**fields: Any) -> dict[str, Any]:
    return {"type": "object", "properties": fields or {"name": {"type": "string"}}}


def refused_because(body: dict[str, Any]) -> str:
    with pytest.raises(AppError) as info:
        check_form_schema(body, [])
    assert info.value.code == "FORM_SCHEMA_INVALID" and info.value.http_status == 422
    return " ".join(info.value.details["errors"])


@pytest.fixture
def listener() -> Any:
    """A local TCP port that records whether anything connected to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connected(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def test_remote_dangling_looping_and_deep_refs_are_refused_on_save(listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/schema.json"
    assert "not a local reference" in refused_because(schema(a={"$ref": url}))
    assert "not a local reference" in refused_because(schema(a={"$ref": "other.json#/x"}))
    assert "$id is not allowed" in refused_because({**schema(a={"$ref": "#/$defs/x"}), "$id": url, "$defs": {"x": {}}})
    assert "points at nothing" in refused_because(schema(a={"$ref": "#/$defs/missing"}))
    looping = {**schema(a={"$ref": "#/$defs/x"}), "$defs": {"x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"}}}
    assert "leads back to itself" in refused_because(looping)
    assert "leads back to itself" in refused_because(schema(a={"$ref": "#"}))
    chain = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(12)} | {"d12": {"type": "string"}}
    assert "limited to 8" in refused_because({**schema(a={"$ref": "#/$defs/d0"}), "$defs": chain})
    # A short local chain is fine and validates answers.
    fine = {**schema(a={"$ref": "#/$defs/text"}), "$defs": {"text": {"$ref": "#/$defs/s"}, "s": {"type": "string"}}}
    check_form_schema(fine, [])
    assert not connected(listener)


def test_a_stored_form_with_a_remote_ref_answers_4xx_without_fetching(listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/schema.json"
    legacy = FormRecord.model_validate(
        {
            "id": "f" * 24,
            "userId": "u" * 24,
            "name": "Old",
            "eventTypeId": 1,
            "schema": schema(a={"$ref": url}),
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    )
    with pytest.raises(AppError) as info:
        validate_answers(legacy, {"a": "x"})
    assert info.value.code == "FORM_SCHEMA_INVALID"
    assert not connected(listener)


def test_patterns_run_in_linear_time_or_are_refused() -> None:
    assert "not supported" in refused_because(schema(a={"type": "string", "pattern": r"^(a)\1$"}))
    assert "not supported" in refused_because(schema(a={"type": "string", "pattern": "^(?=a)"}))
    assert "patternProperties is not allowed" in refused_because({**schema(), "patternProperties": {"^x": {}}})
    evil = schema(a={"type": "string", "pattern": "^(a+)+$"})
    check_form_schema(evil, [])
    form = FormRecord.model_validate(
        {"id": "f" * 24, "userId": "u" * 24, "name": "Re", "eventTypeId": 1, "schema": evil}
        | {"createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
    )
    started = time.perf_counter()
    with pytest.raises(AppError) as info:
        validate_answers(form, {"a": "a" * 5000 + "!"})  # backtracking `re` would never finish this
    assert info.value.code == "FORM_RESPONSE_INVALID"
    assert info.value.details["errors"][0]["problem"] == "pattern"
    validate_answers(form, {"a": "a" * 5000})
    assert time.perf_counter() - started < 30  # generous: the point is "finishes", not a speed target


async def test_service_refuses_remote_ref_on_create_and_accepts_answers(
    sch: SchedulingServices, make_actor: MakeActor
) -> None:
    host, guest = await make_actor(), await make_actor()
    with pytest.raises(AppError) as info:
        await sch.forms.create(
            host,
            FormCreate.model_validate(
                {"name": "X", "eventTypeId": 7, "schema": schema(a={"$ref": "http://127.0.0.1:1/healthz"})}
            ),
        )
    assert info.value.code == "FORM_SCHEMA_INVALID"
    body = {**schema(code={"$ref": "#/$defs/code"}), "$defs": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}}
    form = await sch.forms.create(host, FormCreate.model_validate({"name": "Y", "eventTypeId": 7, "schema": body}))
    booking = await sch.bookings.create(
        guest, BookingCreate.model_validate(booking_body(host, "2027-01-05 09:00", "2027-01-05 10:00"))
    )
    with pytest.raises(AppError) as info:
        await sch.forms.submit(
            guest, form.id, FormResponseCreate.model_validate({"bookingId": booking.id, "answers": {"code": "abc"}})
        )
    assert info.value.code == "FORM_RESPONSE_INVALID"
    saved = await sch.forms.submit(
        guest, form.id, FormResponseCreate.model_validate({"bookingId": booking.id, "answers": {"code": "ABC"}})
    )
    assert saved.answers == {"code": "ABC"}


def test_deep_schemas_and_answers_are_refused_without_recursing() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(5000):  # far past Python's recursion limit
        deep = {"type": "array", "items": deep}
    assert "nests deeper than 32" in refused_because(schema(a=deep))
    form = FormRecord.model_validate(
        {"id": "f" * 24, "userId": "u" * 24, "name": "D", "eventTypeId": 1, "schema": schema(a={"type": "array"})}
        | {"createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
    )
    answer: Any = "x"
    for _ in range(5000):
        answer = [answer]
    with pytest.raises(AppError) as info:
        validate_answers(form, {"a": answer})
    assert info.value.code == "FORM_RESPONSE_INVALID"
    assert info.value.details["errors"][0]["problem"] == "depth"
