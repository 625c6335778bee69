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

# --- chat core: workspaces, channels, messages (issue 3A) --------------------------------------------
VERSION_CONFLICT = _define(
    "VERSION_CONFLICT", 409, False, "The resource changed since you read it; details.currentVersion has the new one"
)
SLUG_TAKEN = _define("SLUG_TAKEN", 409, False, "This workspace address is already taken")
CHANNEL_NAME_TAKEN = _define("CHANNEL_NAME_TAKEN", 409, False, "A channel with this name exists in the workspace")
CHANNEL_ARCHIVED = _define("CHANNEL_ARCHIVED", 403, False, "This channel is archived and read-only")
NOT_A_MEMBER = _define("NOT_A_MEMBER", 403, False, "You are not a member of this workspace or channel")
ALREADY_MEMBER = _define("ALREADY_MEMBER", 409, False, "Already a member")
MEMBER_BANNED = _define("MEMBER_BANNED", 403, False, "You are banned from this workspace")
INVITE_INVALID = _define("INVITE_INVALID", 404, False, "This invite code is unknown, expired, revoked or used up")
WORKSPACE_PRIVATE = _define("WORKSPACE_PRIVATE", 403, False, "This workspace is private: join with an invite code")
OWNER_CANNOT_LEAVE = _define("OWNER_CANNOT_LEAVE", 409, False, "Transfer ownership before leaving the workspace")
ROLE_TOO_LOW = _define("ROLE_TOO_LOW", 403, False, "Your role in this workspace does not allow this")
MESSAGE_DELETED = _define("MESSAGE_DELETED", 409, False, "This message was deleted")

# --- scheduling sidecar: bookings, policies, forms, encryption (issue 7) -----------------------------
SCHEDULING_POLICY_VIOLATION = _define(
    "SCHEDULING_POLICY_VIOLATION", 409, False, "The meeting breaks a scheduling rule; details.rule names it"
)
BOOKING_TIME_INVALID = _define("BOOKING_TIME_INVALID", 422, False, "The meeting's start and end are not valid")
TIMEZONE_UNKNOWN = _define("TIMEZONE_UNKNOWN", 422, False, "Unknown time zone: use an IANA name like Europe/Paris")
BOOKING_STATUS_INVALID = _define(
    "BOOKING_STATUS_INVALID", 409, False, "The booking's current status does not allow this change"
)
FORM_SCHEMA_INVALID = _define("FORM_SCHEMA_INVALID", 422, False, "The form's field schema or rules are not valid")
FORM_RESPONSE_INVALID = _define(
    "FORM_RESPONSE_INVALID", 422, False, "The answers do not satisfy the form; details.errors lists why"
)
FORM_BOOKING_MISMATCH = _define(
    "FORM_BOOKING_MISMATCH", 422, False, "This form does not belong to the booking's host and event type"
)
FORM_INACTIVE = _define("FORM_INACTIVE", 409, False, "This form is not accepting responses")
DECRYPTION_FAILED = _define(
    "DECRYPTION_FAILED", 500, False, "A stored value failed to decrypt (tampered, or its key is missing)"
)
SCHEDULING_RANGE_INVALID = _define(
    "SCHEDULING_RANGE_INVALID", 422, False, "The time range is empty, reversed or too long"
)

# --- attachments, direct messages, typing (issue 3B) -------------------------------------------------
ATTACHMENT_TYPE_NOT_ALLOWED = _define(
    "ATTACHMENT_TYPE_NOT_ALLOWED", 415, False, "This kind of file is not allowed; details.detected names its type"
)
ATTACHMENT_INVALID = _define("ATTACHMENT_INVALID", 422, False, "The file is empty, damaged or not what it claims")
ATTACHMENT_IMAGE_TOO_LARGE = _define(
    "ATTACHMENT_IMAGE_TOO_LARGE", 422, False, "The image has too many pixels (a decompression bomb is refused)"
)
ATTACHMENT_ALREADY_ATTACHED = _define(
    "ATTACHMENT_ALREADY_ATTACHED", 409, False, "This attachment already belongs to another message"
)
DM_SELF = _define("DM_SELF", 422, False, "You cannot start a direct conversation with yourself")
DM_RECIPIENT_UNAVAILABLE = _define(
    "DM_RECIPIENT_UNAVAILABLE", 403, False, "This user cannot receive direct messages (banned or disabled)"
)
