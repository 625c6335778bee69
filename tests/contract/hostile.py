"""Hostile input, generically: the classes a careless or hostile client sends, and how to plant them in any
REST operation (from the OpenAPI document) or Socket.IO event (from the event catalogue).

Each class is a list of JSON-ready values, or raw JSON text (`Raw`) for what a JSON encoder refuses to make:
NaN, lone surrogates as escapes, nesting deeper than any encoder's recursion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEEP = 20_000


@dataclass(frozen=True)
class Raw:
    """JSON text sent as is."""

    text: str


# class name -> values planted in every field (body properties, query parameters, event payload fields)
VALUE_CLASSES: dict[str, list[Any]] = {
    "huge_int": [2**64, -(10**30)],
    "negative_int": [-(2**63) - 1, -1],
    "float": [0.5, 1e308],
    "nan_infinity": [Raw("NaN"), Raw("-Infinity")],
    "far_date": ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    "control_text": ["a\x00b", Raw('"\\ud800x"')],
    "deep_nesting": [Raw("[" * DEEP + "]" * DEEP)],
    "operator_object": [{"$gt": ""}, {"$where": "1"}],
    "wrong_type": [[], True],
}
# Query and path parameters are text: how each class is written there.
PARAM_CLASSES: dict[str, list[str]] = {
    "huge_int": [str(2**64)],
    "negative_int": [str(-(2**63) - 1)],
    "float": ["0.5"],
    "nan_infinity": ["NaN"],
    "far_date": ["0001-01-01T00:00:00+14:00"],
    "control_text": ["a\x00b"],
    "deep_nesting": ["[" * 2000],
    "operator_object": ['{"$gt": ""}'],
    "wrong_type": ["[]"],
}


def encode(value: Any) -> str:
    """JSON text for a value that may contain `Raw` parts."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (and the first branch of an anyOf) to a schema with properties."""
    for _ in range(10):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = document["components"]["schemas"][name]
        elif "anyOf" in schema:
            schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
        else:
            break
    return schema


def body_fields(document: dict[str, Any], operation: dict[str, Any]) -> list[str] | None:
    """The top-level property names of the JSON body, [] for a free-form object, None without a JSON body."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = resolve(document, content["application/json"].get("schema", {}))
    return sorted(schema.get("properties", {})) or []


def path_value(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "date-time":
        return "2030-01-01T00:00:00Z"
    if schema.get("type") == "integer":
        return "1"
    return "0" * 24  # the shape of every id; no such resource exists
