"""Translation of the port's filter and update language into SQLite SQL over a JSON `doc` column.

Every field is read with `json_extract(doc, '$.field')`, the same expression the migrations index, so
SQLite uses those indexes. Values always travel as bound parameters, except in index DDL (no user input).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from connectnow.clock import iso_millis
from connectnow.store.port import Filter, InvalidQueryError, Sort, check_field

_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def format_datetime(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order (and milliseconds match MongoDB)."""
    return iso_millis(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def dumps(doc: Any) -> str:
    return orjson.dumps(doc, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def param(value: Any) -> Any:
    """A scalar as SQLite compares it with json_extract()'s result."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def field_expr(name: str, doc: str = "doc") -> str:
    check_field(name)
    if name == "id":
        return "id" if doc == "doc" else f"{doc.rsplit('.', 1)[0]}.id"
    return f"json_extract({doc}, '$.{name}')"


def json_path(name: str) -> str:
    check_field(name)
    return f"'$.{name}'"


def value_sql(value: Any, params: list[Any]) -> str:
    """SQL for a value to place inside a JSON document (json_set and friends)."""
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list | tuple):
        params.append(dumps(value))
        return "json(?)"
    params.append(param(value))
    return "?"


def where(flt: Filter, params: list[Any], doc: str = "doc") -> str:
    parts = [_clause(key, value, params, doc) for key, value in flt.items()]
    return " AND ".join(parts) if parts else "1"


def _clause(key: str, value: Any, params: list[Any], doc: str) -> str:
    if key in ("$or", "$and"):
        joiner = " OR " if key == "$or" else " AND "
        return "(" + joiner.join(f"({where(sub, params, doc)})" for sub in value) + ")"
    expr = field_expr(key, doc)
    if isinstance(value, Mapping):
        return " AND ".join(_operator(expr, key, op, operand, params, doc) for op, operand in value.items())
    return _equals(expr, value, params)


def _equals(expr: str, value: Any, params: list[Any]) -> str:
    if value is None:
        return f"{expr} IS NULL"
    params.append(param(value))
    return f"{expr} = ?"


def _in_list(expr: str, values: list[Any], params: list[Any]) -> str:
    present = [v for v in values if v is not None]
    parts = []
    if present:
        params.extend(param(v) for v in present)
        parts.append(f"{expr} IN ({','.join('?' * len(present))})")
    if len(present) != len(values):
        parts.append(f"{expr} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "0"


def _operator(expr: str, key: str, op: str, operand: Any, params: list[Any], doc: str = "doc") -> str:
    if op == "$eq":
        return _equals(expr, operand, params)
    if op == "$ne":
        if operand is None:
            return f"{expr} IS NOT NULL"
        params.append(param(operand))
        return f"({expr} IS NULL OR {expr} != ?)"
    if op in _OPS:
        params.append(param(operand))
        return f"{expr} {_OPS[op]} ?"
    if op == "$in":
        return _in_list(expr, list(operand), params)
    if op == "$nin":
        return f"NOT {_in_list(expr, list(operand), params)}"
    if op == "$exists":
        return f"{expr} IS {'NOT ' if operand else ''}NULL"
    if op == "$elemMatch":
        inner = " AND ".join(_operator("value", key, k, v, params) for k, v in operand.items())
        return f"EXISTS (SELECT 1 FROM json_each({doc}, {json_path(key)}) WHERE {inner})"
    raise InvalidQueryError(f"unsupported operator {op}")


def order_by(sort: Sort | None) -> str:
    if not sort:
        return ""
    return " ORDER BY " + ", ".join(f"{field_expr(f)} {'DESC' if d < 0 else 'ASC'}" for f, d in sort)


def update_expr(update: Mapping[str, Mapping[str, Any]], params: list[Any]) -> str:
    """An SQL expression computing the new document from `doc`."""
    expr = "doc"
    for op, fields in update.items():
        if op == "$setOnInsert":
            continue
        if op == "$unset":
            expr = f"json_remove({expr}, {', '.join(json_path(f) for f in fields)})"
            continue
        pairs = []
        for name, value in fields.items():
            pairs.append(f"{json_path(name)}, {_field_update(op, name, value, params)}")
        expr = f"json_set({expr}, {', '.join(pairs)})"
    return expr


def _field_update(op: str, name: str, value: Any, params: list[Any]) -> str:
    current = field_expr(name)
    if op == "$set":
        return value_sql(value, params)
    if op == "$inc":
        params.append(value)
        return f"coalesce({current}, 0) + ?"
    if op in ("$max", "$min"):
        cmp = "<" if op == "$max" else ">"
        params.extend([param(value), param(value)])
        return f"CASE WHEN {current} IS NULL OR {current} {cmp} ? THEN ? ELSE {current} END"
    array = f"coalesce(json_extract(doc, {json_path(name)}), json('[]'))"
    if op == "$push":
        return f"json(json_insert({array}, '$[#]', {value_sql(value, params)}))"
    if op == "$addToSet":
        params.append(param(value))
        probe = f"EXISTS (SELECT 1 FROM json_each(doc, {json_path(name)}) WHERE value = ?)"
        appended = f"json(json_insert({array}, '$[#]', {value_sql(value, params)}))"
        return f"CASE WHEN {probe} THEN json({array}) ELSE {appended} END"
    if op == "$pull":
        params.append(param(value))
        return (
            f"(SELECT json_group_array(json(CASE WHEN type IN ('object','array') THEN value "
            f"ELSE json_quote(value) END)) FROM json_each(doc, {json_path(name)}) WHERE value IS NOT ?)"
        )
    raise InvalidQueryError(f"unsupported update operator {op}")


def literal(value: Any) -> str:
    """An SQL literal, for DDL only (values come from code, never from clients)."""
    value = param(value)
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
