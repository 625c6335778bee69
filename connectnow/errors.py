"""The one catalogue of error codes.

Every refusal in ConnectNow, over REST or in a Socket.IO acknowledgement, is an `AppError` carrying one
`ErrorCode`. A code is stable: clients switch on it. Each code knows its HTTP status and whether retrying
the same request can help (`retryable`), so clients and bots can decide without parsing messages.
Later issues add codes here; never rename or reuse one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    http_status: int
    retryable: bool
    default_message: str


_CATALOGUE: dict[str, ErrorCode] = {}


def _define(code: str, http_status: int, retryable: bool, default_message: str) -> ErrorCode:
    if code in _CATALOGUE:
        raise RuntimeError(f"error code {code} defined twice")
    entry = ErrorCode(code, http_status, retryable, default_message)
    _CATALOGUE[code] = entry
    return entry


def catalogue() -> dict[str, ErrorCode]:
    return dict(_CATALOGUE)


# --- request shape -----------------------------------------------------------------------------------
VALIDATION_FAILED = _define("VALIDATION_FAILED", 422, False, "The request does not match the expected shape")
PAYLOAD_TOO_LARGE = _define("PAYLOAD_TOO_LARGE", 413, False, "The request body is too large")
NOT_FOUND = _define("NOT_FOUND", 404, False, "No such resource, or you may not see it")
METHOD_NOT_ALLOWED = _define("METHOD_NOT_ALLOWED", 405, False, "Method not allowed on this resource")
UNKNOWN_EVENT = _define("UNKNOWN_EVENT", 400, False, "Unknown Socket.IO event")
CONFLICT = _define("CONFLICT", 409, False, "The resource changed or already exists")

# --- authentication ----------------------------------------------------------------------------------
AUTH_REQUIRED = _define("AUTH_REQUIRED", 401, False, "Authentication required: send a bearer token")
AUTH_MALFORMED = _define("AUTH_MALFORMED", 401, False, "The credentials are not in the expected form")
AUTH_INVALID_TOKEN = _define("AUTH_INVALID_TOKEN", 401, False, "The token is unknown or was revoked")
AUTH_TOKEN_EXPIRED = _define("AUTH_TOKEN_EXPIRED", 401, False, "The token has expired: refresh or log in")
AUTH_INVALID_CREDENTIALS = _define("AUTH_INVALID_CREDENTIALS", 401, False, "Wrong username, e-mail or password")
AUTH_REFRESH_REUSED = _define(
    "AUTH_REFRESH_REUSED", 401, False, "This refresh token was already used; the whole session is revoked"
)
API_KEY_REVOKED = _define("API_KEY_REVOKED", 401, False, "This API key was revoked")
USER_BANNED = _define("USER_BANNED", 403, False, "This account is banned")
USER_DISABLED = _define("USER_DISABLED", 403, False, "This account is disabled")
ORIGIN_NOT_ALLOWED = _define("ORIGIN_NOT_ALLOWED", 403, False, "The Origin of this request is not allowed")

# --- authorization and accounts ----------------------------------------------------------------------
FORBIDDEN = _define("FORBIDDEN", 403, False, "You may not do this")
ADMIN_REQUIRED = _define("ADMIN_REQUIRED", 403, False, "Only server administrators may do this")
EMAIL_TAKEN = _define("EMAIL_TAKEN", 409, False, "This e-mail address is already registered")
USERNAME_TAKEN = _define("USERNAME_TAKEN", 409, False, "This username is already taken")
PASSWORD_TOO_WEAK = _define("PASSWORD_TOO_WEAK", 422, False, "The password does not meet the policy")
PASSWORD_TOO_LONG = _define("PASSWORD_TOO_LONG", 422, False, "The password is longer than allowed")

# --- limits and availability -------------------------------------------------------------------------
RATE_LIMITED = _define("RATE_LIMITED", 429, True, "Too many requests; retry after the given delay")
UNAVAILABLE = _define("UNAVAILABLE", 503, True, "A dependency is unavailable; retry shortly")
INTERNAL = _define("INTERNAL", 500, True, "Internal error; it was logged")


class AppError(Exception):
    """A refusal with a stable code. Raised by services, answered by handlers."""

    def __init__(
        self,
        error: ErrorCode,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.error = error
        self.message = message or error.default_message
        self.details = details
        self.retry_after = retry_after
        super().__init__(f"{error.code}: {self.message}")

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def http_status(self) -> int:
        return self.error.http_status

    def body(self) -> dict[str, Any]:
        """The wire shape shared by REST error responses and Socket.IO acks."""
        err: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.error.retryable}
        details = dict(self.details or {})
        if self.retry_after is not None:
            details["retryAfter"] = round(self.retry_after, 3)
        if details:
            err["details"] = details
        return {"ok": False, "error": err}
