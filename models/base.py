"""Base classes shared by every model.

- `WireModel`: camelCase on the wire and in stored documents, snake_case in Python.
- `InputModel`: what clients send. Extra fields are refused, so no client can set `id`, `role` or `userId`,
  and only camelCase names are accepted.
- `StoredModel`: a document as kept by the storage port.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from models import binary, dates


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
    )

    # Every date a client sends, in any field of any input model, lies in the range the stored form holds.
    _dates_in_range = field_validator("*", mode="after")(dates.check_any)
    # No field takes binary: a Socket.IO Buffer is refused, not decoded into text.
    _no_binary = model_validator(mode="before")(binary.refuse_binary)


class StoredModel(WireModel):
    """A stored document. `id` is the primary key on both adapters (`_id` in MongoDB)."""

    model_config = ConfigDict(extra="ignore")

    id: str

    def to_doc(self) -> dict[str, Any]:
        # None means "absent" in the store: optional unique fields can then use sparse indexes.
        return self.model_dump(by_alias=True, exclude_none=True)
