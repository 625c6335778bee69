"""SQL text built once per *shape* of a filter, update or sort, so hot statements skip rebuilding it.

The SQL that `sqlite_sql` builds depends on a filter's (update's) keys, operators and the *types* of its
values (plus the values of booleans and None, which become SQL text: `$exists`, a boolean in `$in`), never on
the other values, which travel as parameters. A shape key captures exactly that, and the walk that computes it
also collects the parameters, in the order the builder would.

On a miss the real builder runs (with `check_filter`/`check_update`, so a refused filter raises as before and
is never cached), and its parameters are compared with the walk's: a shape is cached only when they agree, so
the cache can only ever save work, never change a statement. A hit needs no check: its keys and value types
are those of a filter that passed them. The cache is a bounded LRU: a caller that sends ever new shapes (an
`$in` of every length) evicts old ones and costs a rebuild, never unbounded memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from connectnow.store import sqlite_sql as sql
from connectnow.store.port import Filter, Sort, Update, check_filter, check_update, normalize_update

MAX_SHAPES = 512  # per kind of fragment (where, update, order by)

_LOGICAL = ("$or", "$and")
_CMP = ("$gt", "$gte", "$lt", "$lte")
_PLAIN = frozenset({str, int, float})  # exactly these types: no subclass (bool, an enum) needs a second look


def _is_mapping(value: Any) -> bool:
    kind = type(value)
    return kind is dict or (kind not in _PLAIN and isinstance(value, Mapping))  # skip the slow ABC check


def _kind(value: Any) -> Any:
    """What of a value the SQL text depends on: its type, or the value itself for None and booleans."""
    return value if value is None or value is True or value is False else type(value)


def _equals(value: Any, params: list[Any]) -> None:
    if value is not None:
        params.append(sql.param(value))


def _in_list(operand: Any, params: list[Any]) -> tuple[Any, ...]:
    if not isinstance(operand, list | tuple | set | frozenset):
        return (type(operand),)
    values = list(operand)
    params.extend(sql.param(v) for v in values if v is not None and not isinstance(v, bool))
    return (type(operand), *map(_kind, values))


def _operand(op: str, operand: Any, params: list[Any]) -> Any:
    if op == "$eq" or op == "$ne":
        _equals(operand, params)
        return _kind(operand)
    if op in _CMP:
        params.append(sql.param(operand))
        return _kind(operand)
    if op == "$in" or op == "$nin":
        return _in_list(operand, params)
    if op == "$elemMatch" and _is_mapping(operand):
        return tuple((k, _operand(k, v, params)) for k, v in operand.items())
    return _kind(operand)  # $exists (its boolean is the shape), or something the builder refuses


def filter_shape(flt: Filter, params: list[Any]) -> tuple[Any, ...]:
    """The shape of `flt`, appending its parameters to `params` in `sqlite_sql.where`'s order."""
    parts: list[Any] = []
    for key, value in flt.items():
        if key in _LOGICAL and isinstance(value, list | tuple):
            parts.append((key, type(value), tuple(filter_shape(sub, params) for sub in value)))
        elif key in _LOGICAL:
            parts.append((key, _kind(value)))
        elif _is_mapping(value):
            parts.append((key, type(value), tuple((op, _operand(op, v, params)) for op, v in value.items())))
        else:
            _equals(value, params)
            parts.append((key, _kind(value)))
    return tuple(parts)


def _update_value(op: str, value: Any, params: list[Any]) -> None:
    if op == "$set" or op == "$push":
        _value_sql(value, params)
    elif op == "$inc":
        params.append(value)
    elif op == "$max" or op == "$min":
        params.extend([sql.param(value), sql.param(value)])
    elif op == "$addToSet":
        params.append(sql.param(value))
        _value_sql(value, params)
    elif op == "$pull":
        params.append(sql.param(value))


def _value_sql(value: Any, params: list[Any]) -> None:
    """The parameter `sqlite_sql.value_sql` adds."""
    if type(value) in _PLAIN:
        params.append(value)
    elif isinstance(value, bool) or value is None or isinstance(value, Mapping | list | tuple):
        params.append(sql.dumps(value))
    else:
        params.append(sql.param(value))


def update_shape(update: Update, params: list[Any]) -> tuple[Any, ...]:
    """The shape of `update` (before `normalize_update`, which turns a `$set` of None into `$unset`),
    appending the parameters of `sqlite_sql.update_expr(normalize_update(update))` in its order."""
    parts: list[Any] = []
    for op, fields in update.items():
        if not _is_mapping(fields):
            parts.append((op, _kind(fields)))
            continue
        parts.append((op, type(fields), tuple((name, _kind(value)) for name, value in fields.items())))
        if op in ("$unset", "$setOnInsert"):
            continue
        for value in fields.values():
            if not (op == "$set" and value is None):  # normalized into $unset: no parameter
                _update_value(op, value, params)
    return tuple(parts)


class _Lru:
    """A bounded LRU of SQL fragments; safe from several threads (each runs its own event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[Any, str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Any) -> str | None:
        with self._lock:
            text = self._items.get(key)
            if text is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return text

    def put(self, key: Any, text: str) -> None:
        with self._lock:
            self._items[key] = text
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


WHERE = _Lru(MAX_SHAPES)
UPDATE = _Lru(MAX_SHAPES)
ORDER = _Lru(MAX_SHAPES)


def _cached(cache: _Lru, key: Any, walked: list[Any], params: list[Any], build: Callable[[list[Any]], str]) -> str:
    text = cache.get(key)
    if text is None:
        built: list[Any] = []
        text = build(built)
        if built == walked:
            cache.put(key, text)
        params.extend(built)  # the builder's own parameters: right whether or not the walk agreed
        return text
    params.extend(walked)
    return text


def where(flt: Filter, params: list[Any], doc: str = "doc") -> str:
    """`check_filter(flt)` and `sqlite_sql.where(flt, params, doc)`, built once per shape."""
    walked: list[Any] = []
    key = (doc, filter_shape(flt, walked))

    def build(out: list[Any]) -> str:
        check_filter(flt)
        return sql.where(flt, out, doc)

    return _cached(WHERE, key, walked, params, build)


def update_expr(update: Update, params: list[Any]) -> str:
    """`check_update(update)` and `sqlite_sql.update_expr(normalize_update(update), params)`, built once per
    shape."""
    walked: list[Any] = []
    key = update_shape(update, walked)

    def build(out: list[Any]) -> str:
        check_update(update)
        return sql.update_expr(normalize_update(update), out)

    return _cached(UPDATE, key, walked, params, build)


def order_by(sort: Sort | None) -> str:
    """`sqlite_sql.order_by(sort)`, built once per sort."""
    if not sort:
        return ""
    key = tuple((field, direction < 0) for field, direction in sort)
    text = ORDER.get(key)
    if text is None:
        text = sql.order_by(sort)
        ORDER.put(key, text)
    return text
