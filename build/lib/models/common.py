"""Shapes shared by every endpoint and event."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from models.base import WireModel

T = TypeVar("T")


class ErrorBody(WireModel):
    code: str
    message: str
    retryable: bool
    details: dict[str, Any] | None = None


class ErrorResponse(WireModel):
    """REST error responses and Socket.IO error acks: `{"ok": false, "error": {...}}`."""

    ok: bool = False
    error: ErrorBody


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None

    model_config = {"alias_generator": WireModel.model_config["alias_generator"], "serialize_by_alias": True}
