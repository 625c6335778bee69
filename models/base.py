"""Base classes shared by every model.

- `WireModel`: camelCase on the wire and in stored documents, snake_case in Python.
- `InputModel`: what clients send. Extra fields are refused, so no client can set `id`, `role` or `userId`,
  and only camelCase names are accepted.
- `StoredModel`: a document as kept by the storage port.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from models import binary, dates
from models.bounds import check_json_value


def _as_utc(value: datetime) -> datetime:
    # MongoDB may hand back naive datetimes (always UTC); SQLite hands back ISO strings with Z.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]

# Characters that are never acceptable in user-supplied text: NUL and other C0 controls (except tab and
# newlines), bidirectional overrides used to disguise text, and lone surrogates.
_FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _clean_text(value: str) -> str:
    if _FORBIDDEN_TEXT.search(value):
        raise ValueError("text contains control characters, bidirectional overrides or lone surrogates")
    return value


class Text(GroupedMetadata):
    """User-supplied text: `Annotated[str, Text(1, 64)]` strips, bounds the length, and refuses NUL and
    other control characters, bidirectional overrides and lone surrogates."""

    def __init__(self, min_length: int = 0, max_length: int = 200, *, strip: bool = True) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.strip = strip

    def __iter__(self) -> Iterator[Any]:
        yield StringConstraints(strip_whitespace=self.strip, min_length=self.min_length, max_length=self.max_length)
        yield AfterValidator(_clean_text)


IdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class InputModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        str_max_length=10_000,
        allow_inf_nan=False,
    )

    # Every date a client sends, in any field of any input model, lies in the range the stored form holds.
    _dates_in_range = field_validator("*", mode="after")(dates.check_any)
    # No field takes binary: a Socket.IO Buffer is refused, not decoded into text.
    _no_binary = model_validator(mode="before")(binary.refuse_binary)

    @model_validator(mode="after")
    def _storable(self) -> Any:
        # Every value a client sends, free-form objects included, fits what both engines can store: no
        # integer past 64 bits, no NaN, no NUL or lone surrogate (models/bounds.py says why).
        check_json_value(self.__dict__, "body")
        return self


class StoredModel(WireModel):
    """A stored document. `id` is the primary key on both adapters (`_id` in MongoDB)."""

    model_config = ConfigDict(extra="ignore")

    id: str

    def to_doc(self) -> dict[str, Any]:
        # None means "absent" in the store: optional unique fields can then use sparse indexes.
        return self.model_dump(by_alias=True, exclude_none=True)


class Wire(dict[str, Any]):
    """A payload already in wire form (JSON types, camelCase keys). The hub's `to_wire` hands it on as it is:
    a message built once for its event is not walked again for the acknowledgement."""


@cache
def _view_plan(record: type[BaseModel], view: type[BaseModel]) -> tuple[set[str], tuple[tuple[str, Any], ...]]:
    """The view's fields the record has (dumped from it), and for the others how to make the view's default
    (worked out once: `FieldInfo.get_default` inspects the factory's signature on every call)."""
    include = set(view.model_fields) & set(record.model_fields)
    missing: list[tuple[str, Any]] = []
    for name, field in view.model_fields.items():
        if name in record.model_fields:
            continue
        if field.is_required():
            raise TypeError(f"{view.__name__}.{name} has no default and {record.__name__} has no such field")
        missing.append((field.alias or name, _default_maker(field)))
    return include, tuple(missing)


def _default_maker(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        if field.default_factory_takes_validated_data:
            raise TypeError("a view default that depends on other fields cannot be made without the view")
        return field.default_factory
    value = to_jsonable_python(field.default, by_alias=True)
    return lambda: copy.deepcopy(value)


def dump_as(record: BaseModel, view: type[BaseModel]) -> Wire:
    """`record` in wire form as the `view` model would write it, that is
    `view.model_validate(record.model_dump()).model_dump(mode="json", by_alias=True, exclude_none=True)`, in
    one pass without building the view (every new message takes this path; tests/chat/test_wire_views.py
    keeps the two equal)."""
    include, missing = _view_plan(type(record), view)
    out = Wire(record.model_dump(mode="json", by_alias=True, exclude_none=True, include=include))
    for alias, make in missing:
        value = make()
        if value is not None:
            out[alias] = to_jsonable_python(value, by_alias=True)
    return out
