"""Versioned schema migrations, written once for both adapters.

Each module in `connectnow/store/migrations/` defines `MIGRATION`. Migrations apply in order of their id
(a zero-padded number plus a name, e.g. `0001_accounts`); each store records the ids it has applied, so a
migration added later with a lower number still runs once. A migration never changes after it has landed:
add a new one.

Index fields are document fields (camelCase). SQLite creates real tables with expression indexes over the
JSON document; MongoDB creates the same indexes by the same names.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

from connectnow.store.port import check_field


@dataclass(frozen=True)
class Index:
    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    # Sparse: documents without the (single) field are left out, so several may lack it. Use it for an
    # optional unique field: SQLite's NULLs never collide, MongoDB needs `sparse` for the same behaviour.
    sparse: bool = False

    def __post_init__(self) -> None:
        for name, direction in self.keys:
            check_field(name)
            if direction not in (1, -1):
                raise ValueError(f"index {self.name}: direction must be 1 or -1")
        if self.sparse and len(self.keys) != 1:
            raise ValueError(f"index {self.name}: sparse indexes take exactly one field")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.keys)


@dataclass(frozen=True)
class TextIndex:
    """Full-text search over some string fields (MongoDB text index; SQLite FTS5)."""

    collection: str
    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class GeoIndex:
    """A geospatial index over a GeoJSON Point field `{"type": "Point", "coordinates": [lng, lat]}`.

    MongoDB: a 2dsphere index. SQLite: an expression index on (latitude, longitude), which the adapter's
    `near` uses as a bounding-box prefilter before computing exact great-circle distances.
    """

    collection: str
    name: str
    field: str

    def __post_init__(self) -> None:
        check_field(self.field)


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    collections: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    text_indexes: tuple[TextIndex, ...] = field(default=())
    geo_indexes: tuple[GeoIndex, ...] = field(default=())
    # Text indexes (landed earlier, same fields) whose SQLite update trigger is replaced by one that re-indexes
    # a row only when its indexed text changes. MongoDB maintains its text indexes itself: nothing to do.
    text_update_triggers: tuple[TextIndex, ...] = field(default=())


def all_migrations() -> list[Migration]:
    from connectnow.store import migrations as package

    found: list[Migration] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        migration = getattr(module, "MIGRATION", None)
        if isinstance(migration, Migration):
            found.append(migration)
    found.sort(key=lambda m: m.id)
    ids = [m.id for m in found]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"two migrations share an id: {ids}")
    return found


def unique_indexes(collection: str) -> list[Index]:
    return [
        index
        for migration in all_migrations()
        for index in migration.indexes
        if index.collection == collection and index.unique
    ]


def geo_index_for(collection: str, field_name: str) -> GeoIndex | None:
    for migration in all_migrations():
        for index in migration.geo_indexes:
            if index.collection == collection and index.field == field_name:
                return index
    return None


def text_index_for(collection: str) -> TextIndex | None:
    for migration in all_migrations():
        for index in migration.text_indexes:
            if index.collection == collection:
                return index
    return None
