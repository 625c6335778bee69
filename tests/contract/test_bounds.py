"""The bounds every client value obeys (models/bounds.py), and the Socket.IO codec that decodes with them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from connectnow.realtime.hub import OrjsonCodec
from models.base import InputModel
from models.bounds import (
    INT64_MAX,
    INT64_MIN,
    JsonValueError,
    Undecodable,
    check_json_value,
    decode_client_json,
)
from models.dates import ClientDateTime


class Free(InputModel):
    answers: dict[str, Any]
    count: int = 0


@pytest.mark.parametrize(
    "bad",
    [
        {"n": INT64_MAX + 1},
        {"n": [INT64_MIN - 1]},
        {"deep": {"deeper": [1, {"x": float("nan")}]}},
        {"t": "a\x00b"},
        {"t": "\ud800"},
        {"\udfff": 1},  # keys too
    ],
)
def test_an_input_model_refuses_what_no_engine_can_store_anywhere_inside(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Free.model_validate({"answers": bad})


def test_an_input_model_refuses_an_integer_field_past_64_bits_even_from_a_float() -> None:
    with pytest.raises(ValidationError):
        Free.model_validate({"answers": {}, "count": 1e25})  # orjson reads 10**25 as this float
    assert Free.model_validate({"answers": {"n": INT64_MAX}, "count": INT64_MIN}).count == INT64_MIN


def test_the_walk_is_iterative_and_bounds_depth() -> None:
    value: Any = 1
    for _ in range(50_000):  # far past the interpreter's recursion limit
        value = [value]
    with pytest.raises(JsonValueError, match="nested deeper"):
        check_json_value(value)


def test_client_json_is_decoded_with_a_depth_limit() -> None:
    assert decode_client_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
    for text in ("[" * 66 + "]" * 66, "[" * 20_000 + "]" * 20_000, "NaN", '"\\ud800"'):
        with pytest.raises(JsonValueError):
            decode_client_json(text)


def test_the_socket_codec_turns_an_undecodable_payload_into_an_answerable_event() -> None:
    decoded = OrjsonCodec.loads('["message:send",' + "[" * 20_000 + "]" * 20_000 + "]")
    assert decoded[0] == "message:send" and isinstance(decoded[1], Undecodable)
    assert isinstance(OrjsonCodec.loads("{" * 5000), Undecodable)  # a CONNECT payload: no event name
    assert OrjsonCodec.loads('["x", {"s": "\\ud800"}]') == ["x", {"s": "\ud800"}]  # left to validation
    # Engine.IO decodes its own packets through the codec and needs ValueError for plain text: the WebSocket
    # upgrade's "probe" (a marker here broke every polling -> WebSocket upgrade).
    for plain in ("probe", '2["ev", 1]'):
        with pytest.raises(ValueError):
            OrjsonCodec.loads(plain)


class Window(BaseModel):
    before: ClientDateTime


@pytest.mark.parametrize("text", ["0.5", "1700000000", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_query_dates_are_iso_and_in_range(text: str) -> None:
    with pytest.raises(ValidationError):
        Window.model_validate({"before": text})


def test_query_dates_come_back_in_utc() -> None:
    assert (
        Window.model_validate({"before": "2030-01-01T10:00:00+02:00"}).before.isoformat() == "2030-01-01T08:00:00+00:00"
    )
