"""The one catalogue of error codes.

Every refusal in ConnectNow, over REST or in a Socket.IO acknowledgement, is an `AppError` carrying one
`ErrorCode`. A code is stable: clients switch on it. Each code knows its HTTP status and whether retrying
the same request can help (`retryable`), so clients and bots can decide without parsing messages.
Later issues add codes here; never rename or reuse one.
"""

from __future__ import annotations

from collections.abc import Sequence
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
HTTP_ERROR = _define(
    "HTTP_ERROR", 400, False, "The HTTP request itself could not be read (its status says how); the message says why"
)

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


def validation_failed(errs: Sequence[Any]) -> AppError:
    """VALIDATION_FAILED with pydantic's errors as details, the same over REST and in socket acks.
    The offending input is never echoed back: it may be a password."""
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in list(errs)[:20]
    ]
    return AppError(VALIDATION_FAILED, details={"errors": details})


# --- chat core: workspaces, channels, messages --------------------------------------------
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

# --- scheduling sidecar: bookings, policies, forms, encryption -----------------------------
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
BOOKING_LINK_INVALID = _define(
    "BOOKING_LINK_INVALID", 404, False, "This booking link is not valid, or it was used already"
)

# --- broadcasts sidecar: contacts, groups, templates, scheduled messages, study books --------
PHONE_INVALID = _define("PHONE_INVALID", 422, False, "This is not a valid phone number")
PHONE_AMBIGUOUS = _define(
    "PHONE_AMBIGUOUS", 422, False, "The number has no country code: write it as +<country><number> or give a region"
)
CONTACT_DUPLICATE = _define(
    "CONTACT_DUPLICATE", 409, False, "A contact with this phone number exists; details.contactId names it"
)
CSV_INVALID = _define("CSV_INVALID", 422, False, "The CSV file cannot be read: details say why")
GROUP_EMPTY = _define("GROUP_EMPTY", 422, False, "This group has no contacts to send to")
CONTACT_OPTED_OUT = _define(
    "CONTACT_OPTED_OUT", 409, False, "The contact opted out of messages: only their own START reply opts them in"
)
BROADCAST_RECURRENCE_INVALID = _define(
    "BROADCAST_RECURRENCE_INVALID",
    422,
    False,
    "This recurrence rule is refused (details.reason: unparseable, unsupported, tooFrequent, tooMany, noOccurrence)",
)
SERIES_ENDED = _define("SERIES_ENDED", 409, False, "This recurring broadcast has ended: create a new one")
CALENDAR_URL_FORBIDDEN = _define(
    "CALENDAR_URL_FORBIDDEN", 422, False, "This URL's host is, or resolves to, a private or local address"
)
SUBSCRIPTION_FETCH_FAILED = _define(
    "SUBSCRIPTION_FETCH_FAILED", 502, True, "The subscribed calendar's URL could not be fetched (details say why)"
)
MAIL_QUOTA_EXCEEDED = _define(
    "MAIL_QUOTA_EXCEEDED",
    429,
    True,
    "You queued too many invitation mails in the last 24 hours; try later or send fewer updates",
)
RSVP_LINK_INVALID = _define(
    "RSVP_LINK_INVALID", 404, False, "This RSVP link is not valid, or it was used already: ask for a new one"
)
INBOUND_SIGNATURE_INVALID = _define(
    "INBOUND_SIGNATURE_INVALID",
    401,
    False,
    "The inbound webhook call is not signed with this user's secret, or too old",
)
TEMPLATE_UNKNOWN_PLACEHOLDER = _define(
    "TEMPLATE_UNKNOWN_PLACEHOLDER", 422, False, "The text uses a placeholder that does not exist"
)
PLACEHOLDER_NEEDS_CONTACT = _define(
    "PLACEHOLDER_NEEDS_CONTACT", 422, False, "Placeholders are filled per contact: a channel target cannot use them"
)
BROADCAST_CONTENT_INVALID = _define(
    "BROADCAST_CONTENT_INVALID", 422, False, "Give exactly one of the message text and a template"
)
SCHEDULE_TIME_ZONE_REQUIRED = _define(
    "SCHEDULE_TIME_ZONE_REQUIRED", 422, False, "The time has no UTC offset: add one or give an IANA timeZone"
)
SCHEDULE_NONEXISTENT_TIME = _define(
    "SCHEDULE_NONEXISTENT_TIME", 422, False, "This local time does not exist in the time zone (a DST gap)"
)
SCHEDULE_IN_PAST = _define("SCHEDULE_IN_PAST", 422, False, "The scheduled time is in the past")
SCHEDULE_BEYOND_HORIZON = _define(
    "SCHEDULE_BEYOND_HORIZON", 422, False, "The scheduled time is further ahead than the server allows"
)
SCHEDULE_QUOTA_EXCEEDED = _define(
    "SCHEDULE_QUOTA_EXCEEDED", 409, False, "Too many pending scheduled messages for this target"
)
SCHEDULE_NOT_PENDING = _define(
    "SCHEDULE_NOT_PENDING", 409, False, "Only a pending scheduled message can be edited; this one is not"
)
SCHEDULE_ALREADY_SENT = _define(
    "SCHEDULE_ALREADY_SENT", 409, False, "This message is already being sent or was sent: it cannot be cancelled"
)
WEBHOOK_NOT_CONFIGURED = _define(
    "WEBHOOK_NOT_CONFIGURED", 422, False, "Contacts are reached through a webhook: set one first"
)
WEBHOOK_URL_FORBIDDEN = _define(
    "WEBHOOK_URL_FORBIDDEN", 422, False, "This webhook address points to a private or local network"
)
IN_APP_UNAVAILABLE = _define(
    "IN_APP_UNAVAILABLE", 501, False, "In-app delivery into channels and conversations is not available"
)

# --- attachments, direct messages, typing -------------------------------------------------
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
ACCOUNT_TOKEN_INVALID = _define(
    "ACCOUNT_TOKEN_INVALID", 400, False, "This link is invalid, has expired or was already used"
)
DM_BLOCKED = _define("DM_BLOCKED", 403, False, "One of you has blocked the other: no new direct messages")
DM_NO_SHARED_WORKSPACE = _define(
    "DM_NO_SHARED_WORKSPACE", 403, False, "You share no workspace with this user (or a ban now separates you)"
)
DM_RECIPIENT_UNAVAILABLE = _define(
    "DM_RECIPIENT_UNAVAILABLE", 403, False, "This user cannot receive direct messages (banned or disabled)"
)
ATTACHMENT_PENDING_LIMIT = _define(
    "ATTACHMENT_PENDING_LIMIT",
    409,
    False,
    "Too many uploads not attached to a message yet: send or discard some first",
)

# --- calendars sidecar: events, recurrence, locations, ICS, exports ------------------------
CALENDAR_READ_ONLY = _define("CALENDAR_READ_ONLY", 403, False, "This calendar is read-only (canEdit is false)")
EVENT_TIME_INVALID = _define(
    "EVENT_TIME_INVALID", 422, False, "The event's times are inconsistent (end before start, setup or teardown)"
)
RECURRENCE_INVALID = _define("RECURRENCE_INVALID", 422, False, "The recurrence rule is invalid or never occurs")
INSTANCE_NOT_FOUND = _define("INSTANCE_NOT_FOUND", 404, False, "The series has no instance at that time")
LOCATION_CAPACITY_EXCEEDED = _define("LOCATION_CAPACITY_EXCEEDED", 409, False, "More attendees than the location holds")
LOCATION_EQUIPMENT_MISSING = _define(
    "LOCATION_EQUIPMENT_MISSING", 409, False, "The event needs equipment the location does not have"
)
LOCATION_SETUP_TOO_SHORT = _define(
    "LOCATION_SETUP_TOO_SHORT", 422, False, "The location needs a longer setup window before the event"
)
CATEGORY_NAME_TAKEN = _define("CATEGORY_NAME_TAKEN", 409, False, "A category with this name already exists")
LOCATION_NAME_TAKEN = _define("LOCATION_NAME_TAKEN", 409, False, "A location with this name already exists")
CALENDAR_SERIES_LIMIT = _define(
    "CALENDAR_SERIES_LIMIT", 409, False, "This calendar already holds the most recurring series allowed"
)
CALENDAR_RANGE_INVALID = _define(
    "CALENDAR_RANGE_INVALID", 422, False, "timeMin must be before timeMax, within the allowed span"
)
ICS_TOO_LARGE = _define("ICS_TOO_LARGE", 413, False, "The iCalendar file is larger than allowed")
ICS_ENCODING = _define("ICS_ENCODING", 422, False, "The iCalendar file is not valid UTF-8")
ICS_TOO_COMPLEX = _define(
    "ICS_TOO_COMPLEX", 422, False, "The iCalendar file nests too deeply or holds too many components"
)
ICS_MALFORMED = _define("ICS_MALFORMED", 422, False, "The iCalendar file cannot be parsed")
ICS_IMPORT_REFUSED = _define(
    "ICS_IMPORT_REFUSED", 422, False, "Some events cannot be imported, so none were; details.errors lists why"
)
EXPORT_NOT_READY = _define("EXPORT_NOT_READY", 409, False, "This export has not completed")

# --- server and socket hardening -------------------------------------------------------------
EVENT_RESERVED = _define(
    "EVENT_RESERVED", 400, False, "This event name is reserved by Socket.IO (connect, disconnect, ...) and refused"
)
TOO_MANY_SOCKETS = _define(
    "TOO_MANY_SOCKETS", 429, False, "This user has the most sockets allowed open: close one first"
)


# --- VOICE channels ------------------------------------------------------------------------------
CHANNEL_NOT_VOICE = _define("CHANNEL_NOT_VOICE", 409, False, "This is not a VOICE channel: there is no call in it")
VOICE_NOT_IN_CALL = _define("VOICE_NOT_IN_CALL", 409, False, "This socket is not in the channel's call: join it first")
VOICE_PEER_NOT_IN_CALL = _define("VOICE_PEER_NOT_IN_CALL", 404, False, "That user is not in the channel's call")
VOICE_CALL_FULL = _define("VOICE_CALL_FULL", 409, False, "This call has the most participants allowed")


def catalogue_markdown() -> str:
    """docs/ERRORS.md, generated from this module so it cannot drift (`python -m connectnow.errors`)."""
    lines = [
        "# Error codes",
        "",
        "Every refusal, over REST or in a Socket.IO acknowledgement, has this shape:",
        "",
        "```json",
        '{"ok": false, "error": {"code": "AUTH_TOKEN_EXPIRED", "message": "...", "retryable": false, "details": {}}}',
        "```",
        "",
        "`retryable` says whether sending the same request again can succeed (after `details.retryAfter` seconds",
        "where given; REST also sets `Retry-After`). Codes are stable: clients switch on them.",
        "Generated by `python -m connectnow.errors > docs/ERRORS.md`; a test keeps it in step.",
        "",
        "| code | HTTP | retryable | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for entry in _CATALOGUE.values():
        retry = "yes" if entry.retryable else "no"
        lines.append(f"| `{entry.code}` | {entry.http_status} | {retry} | {entry.default_message} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
