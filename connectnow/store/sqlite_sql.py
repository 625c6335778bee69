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
_PLAIN = frozenset({str, int, float})


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
    if type(value) in _PLAIN:  # the common case, without the checks below (exact types: not bool, not an enum)
        return value
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


def type_expr(name: str, doc: str = "doc") -> str:
    """SQL for the JSON type of a field ('integer', 'real', 'text', 'true', 'false', ... or NULL when absent).

    `json_extract` turns true/false into 1/0, so comparisons also check this type (see `_typed`)."""
    check_field(name)
    return "'text'" if name == "id" else f"json_type({doc}, '$.{name}')"


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


# The port follows MongoDB's semantics, and SQLite is made to agree (pinned by tests/contract/test_parity.py):
# - a value compares only with values of its own type bracket: numbers with numbers, strings with strings,
#   booleans with booleans (`"10" > 2` and `true == 1` do not match);
# - `$ne` and `$nin` match documents that lack the field (unless None is among the excluded values).
_NUMBER_TYPES = "('integer','real')"
_BOOL_TYPES = "('true','false')"


def _clause(key: str, value: Any, params: list[Any], doc: str) -> str:
    if key in ("$or", "$and"):
        joiner = " OR " if key == "$or" else " AND "
        return "(" + joiner.join(f"({where(sub, params, doc)})" for sub in value) + ")"
    ref = (field_expr(key, doc), type_expr(key, doc))
    if isinstance(value, Mapping):
        return " AND ".join(_operator(ref, key, op, operand, params, doc) for op, operand in value.items())
    return _equals(ref, value, params)


def _is_number(value: Any) -> bool:
    # Decimal is stored as text (see `param`), so it is not a number here.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _typed(ref: tuple[str, str], value: Any, test: str) -> str:
    """`test` (over the field's SQL value) restricted to stored values of `value`'s type bracket."""
    jtype = ref[1]
    if isinstance(value, bool):
        return f"({test} AND {jtype} IN {_BOOL_TYPES})"
    if _is_number(value):
        return f"({test} AND {jtype} IN {_NUMBER_TYPES})"
    if isinstance(value, str | enum.Enum | date) and jtype != "'text'":
        return f"({test} AND {jtype} = 'text')"
    return test


def _equals(ref: tuple[str, str], value: Any, params: list[Any]) -> str:
    expr = ref[0]
    if value is None:
        return f"{expr} IS NULL"
    params.append(param(value))
    # Strings never equal numbers in SQLite (no affinity on either side): only booleans need the type check.
    return _typed(ref, value, f"{expr} = ?") if isinstance(value, bool) or _is_number(value) else f"{expr} = ?"


def _in_list(ref: tuple[str, str], values: list[Any], params: list[Any]) -> str:
    expr, jtype = ref
    present = [v for v in values if v is not None and not isinstance(v, bool)]
    flags = sorted({"true" if v else "false" for v in values if isinstance(v, bool)})
    parts = []
    if present:
        params.extend(param(v) for v in present)
        test = f"{expr} IN ({','.join('?' * len(present))})"
        # A stored boolean reads as 1/0: keep it out of a numeric list.
        parts.append(f"({test} AND {jtype} NOT IN {_BOOL_TYPES})" if any(map(_is_number, present)) else test)
    if flags:
        parts.append(f"{jtype} IN ({','.join(repr(f) for f in flags)})")
    if None in values:
        parts.append(f"{expr} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "0"


def _negate(test: str) -> str:
    """True where `test` is false or NULL (a missing field): how MongoDB's `$ne`/`$nin` treat absent fields."""
    return f"NOT coalesce({test}, 0)"


def _operator(ref: tuple[str, str], key: str, op: str, operand: Any, params: list[Any], doc: str = "doc") -> str:
    expr = ref[0]
    if op == "$eq":
        return _equals(ref, operand, params)
    if op == "$ne":
        if operand is None:
            return f"{expr} IS NOT NULL"
        return _negate(_equals(ref, operand, params))
    if op in _OPS:
        params.append(param(operand))
        return _typed(ref, operand, f"{expr} {_OPS[op]} ?")
    if op == "$in":
        return _in_list(ref, list(operand), params)
    if op == "$nin":
        return _negate(_in_list(ref, list(operand), params))
    if op == "$exists":
        return f"{expr} IS {'NOT ' if operand else ''}NULL"
    if op == "$elemMatch":
        inner = " AND ".join(_operator(("value", "type"), key, k, v, params) for k, v in operand.items())
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
