"""The content rules every conversation shares (channel and direct messages)."""

from __future__ import annotations

from connectnow import errors
from connectnow.errors import AppError


def check_content(content: str, max_chars: int, *, is_system: bool) -> None:
    """The content rules every conversation shares: no client-written SYSTEM messages, a length limit."""
    if is_system:
        raise AppError(errors.VALIDATION_FAILED, "SYSTEM messages are written by the server only")
    if len(content) > max_chars:
        raise AppError(
            errors.PAYLOAD_TOO_LARGE,
            f"Messages may be at most {max_chars} characters long",
            details={"maxChars": max_chars},
        )
