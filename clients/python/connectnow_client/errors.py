"""Errors the server answered, with its stable codes (docs/ERRORS.md in the ConnectNow repository)."""

from __future__ import annotations

from typing import Any


class ConnectNowError(Exception):
    """A refusal from the server: `code` is stable (e.g. NOT_A_MEMBER, RATE_LIMITED), `message` is for people."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        details: Any = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retryable = retryable
        self.details = details

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, when the server said (RATE_LIMITED carries `details.retryAfter`)."""
        if isinstance(self.details, dict) and isinstance(self.details.get("retryAfter"), int | float):
            return float(self.details["retryAfter"])
        return None

    @classmethod
    def from_body(cls, body: Any, status: int | None = None) -> ConnectNowError:
        """From `{"ok": false, "error": {...}}` (REST bodies and Socket.IO acknowledgements alike)."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls("UNEXPECTED_RESPONSE", f"unexpected answer: {str(body)[:200]}", status=status)
        return cls(
            str(error.get("code", "UNKNOWN")),
            str(error.get("message", "")),
            status=status,
            retryable=bool(error.get("retryable", False)),
            details=error.get("details"),
        )


class RateLimited(ConnectNowError):
    """RATE_LIMITED, raised once the client's retries honouring `retryAfter` are used up."""
