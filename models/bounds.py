"""Bounds every client value must stay within, whatever field or free-form object it arrives in.

Both storage engines hold integers as signed 64-bit (SQLite INTEGER, BSON int64) and text as UTF-8; orjson
encodes only 64-bit integers and valid UTF-8. A value outside those bounds used to travel through validation
and fail deep in a driver (OverflowError, TypeError: a 500). Here it is refused where it enters: every
`InputModel` walks its validated values (free-form answers and metadata included) with `check_json_value`,
and REST bodies and Socket.IO packets are decoded with `decode_client_json`, which bounds nesting depth.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The deepest nesting a client may send (JSON Schemas of forms are the deepest legitimate documents).
MAX_JSON_DEPTH = 64

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]

# NUL ends strings in C libraries (SQLite's FTS query parser among them); lone surrogates are not encodable.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JsonValueError(ValueError):
    """A client value outside what can be stored; the message names where it is."""


def _unstorable_text(text: str) -> bool:
    # ASCII text (CPython knows without a scan) holds no surrogates: only NUL needs a (memchr) look.
    return ("\x00" in text) if text.isascii() else _UNSTORABLE.search(text) is not None


def _check_scalar(value: Any, where: str) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise JsonValueError(f"{where}: integers must fit in signed 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise JsonValueError(f"{where}: numbers must be finite")
    elif isinstance(value, str) and _UNSTORABLE.search(value):
        raise JsonValueError(f"{where}: text may not contain NUL or lone surrogates")


def check_json_value(value: Any, where: str = "value", *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse integers outside signed 64 bits, non-finite numbers, NUL or lone surrogates in text (keys too)
    and nesting deeper than `max_depth`, anywhere inside `value`. Iterative: a deep value cannot exhaust the
    stack."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            raise JsonValueError(f"{path}: nested deeper than {max_depth} levels")
        kind = type(item)
        # Plain text, booleans and null first: most of every input, and `isinstance(item, BaseModel)` (an ABC
        # check) costs more than the check itself. Subclasses (enums) take the general path below.
        if kind is str:
            if _unstorable_text(item):
                _check_scalar(item, path)
            continue
        if kind is bool or item is None:
            continue
        if isinstance(item, BaseModel):
            item = item.__dict__
        if isinstance(item, dict):
            for key, child in item.items():
                if type(key) is not str or _unstorable_text(key):
                    _check_scalar(key, f"{path} (a key)")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
        else:
            _check_scalar(item, path)


def check_text_param(value: str, where: str) -> None:
    """Query and path text: the same rule as JSON text, plus no other C0 control characters."""
    if _UNSTORABLE.search(value) or any(ord(ch) < 0x20 and ch not in "\t\n\r" for ch in value):
        raise JsonValueError(f"{where}: text may not contain NUL, control characters or lone surrogates")


class Undecodable:
    """Stands for a Socket.IO payload that could not be decoded (nesting too deep, or not JSON the server can
    read): the event is then answered VALIDATION_FAILED instead of the packet being dropped unanswered."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Undecodable({self.reason!r})"


def decode_client_json(data: str | bytes) -> Any:
    """Decode JSON a client sent, with bounded depth, never recursing without a limit. Raises
    `JsonValueError` for input that is not JSON, or nests deeper than MAX_JSON_DEPTH."""
    try:
        value = orjson.loads(data)  # its own recursion limit (1024) makes it safe against any depth
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:  # orjson's own limit, past ours
            raise JsonValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from exc
        raise JsonValueError(f"not valid JSON: {exc.msg}") from exc
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise JsonValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
