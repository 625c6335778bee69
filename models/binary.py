"""Client input is JSON-shaped: Socket.IO can also carry binary attachments (a JS `Buffer` or `Uint8Array`
arrives as `bytes`), which pydantic would otherwise decode into a `str` field as if the client had sent text."""

from __future__ import annotations

from typing import Any


def refuse_binary(value: Any) -> Any:
    """Raise ValueError when bytes appear anywhere in `value` (walked iteratively: input may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes | bytearray | memoryview):
            raise ValueError("binary data is not accepted here: send text")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value
