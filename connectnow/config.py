"""Every setting of ConnectNow, read from `CONNECTNOW_*` environment variables or a `.env` file.

The README's settings table mirrors this class; change both together.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-connectnow-dev-secret"  # noqa: S105 - refused outside development

# OWASP password storage cheat sheet, argon2id minimum: m=19 MiB, t=2, p=1.
OWASP_ARGON2_MEMORY_KIB = 19 * 1024
OWASP_ARGON2_TIME_COST = 2


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class StorageKind(StrEnum):
    SQLITE = "sqlite"
    MONGODB = "mongodb"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONNECTNOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.PRODUCTION
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: str = "info"
    public_url: str | None = None

    database_url: str | None = None
    mongodb_database: str = "connectnow"
    data_dir: Path = Path("data")

    redis_url: str | None = None
    redis_prefix: str = Field("connectnow", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_http_buffer_size: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_request_body_bytes: int = Field(1024 * 1024, ge=1024)
    ping_interval_seconds: float = Field(25.0, gt=0)
    ping_timeout_seconds: float = Field(20.0, gt=0)
    # docs/PROTOCOL.md "Slow consumers": a socket with this many packets waiting to be written is disconnected.
    max_pending_packets: int = Field(1000, ge=16, le=1_000_000)
    trust_proxy_headers: bool = False  # deprecated: the same as CONNECTNOW_TRUSTED_PROXIES=127.0.0.1,::1
    # Proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed; see README.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    access_token_ttl_seconds: int = Field(15 * 60, ge=30)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=60)
    password_min_length: int = Field(8, ge=8)
    password_max_length: int = Field(128, ge=16, le=1024)
    argon2_memory_kib: int = Field(OWASP_ARGON2_MEMORY_KIB, ge=OWASP_ARGON2_MEMORY_KIB)
    argon2_time_cost: int = Field(OWASP_ARGON2_TIME_COST, ge=OWASP_ARGON2_TIME_COST)
    argon2_parallelism: int = Field(1, ge=1, le=16)

    # --- chat core (documented in docs/PROTOCOL.md) ---
    message_max_chars: int = Field(4000, ge=1, le=20_000)  # characters of one message's content

    # --- rate limits, attachments, typing (documented in docs/PROTOCOL.md) ---
    rate_send_burst: int = Field(20, ge=1)  # messages a user may send at once
    rate_send_per_second: float = Field(2.0, gt=0)  # messages per second after the burst
    rate_react_burst: int = Field(30, ge=1)
    rate_react_per_second: float = Field(5.0, gt=0)
    rate_typing_burst: int = Field(10, ge=1)
    rate_typing_per_second: float = Field(1.0, gt=0)
    rate_signal_burst: int = Field(200, ge=1)  # VOICE signalling: a call setup trickles dozens of candidates
    rate_signal_per_second: float = Field(50.0, gt=0)
    rate_upload_burst: int = Field(10, ge=1)
    rate_upload_per_second: float = Field(0.5, gt=0)
    attachment_max_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    attachment_allowed_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "application/zip",
            "audio/mpeg",
            "audio/ogg",
            "audio/x-wav",
            "audio/mp4",
            "video/mp4",
            "video/webm",
            "video/quicktime",
            "text/plain",
            # Office documents (detected as such from their ZIP or OLE structure).
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
        ]
    )
    attachment_thumbnail_px: int = Field(320, ge=16, le=2048)  # longest side of a thumbnail
    attachment_max_pending: int = Field(50, ge=1, le=10_000)  # a user's uploads not yet claimed by a message
    attachment_max_image_pixels: int = Field(40_000_000, ge=10_000, le=89_000_000)  # w x h; more: a bomb
    typing_expiry_seconds: float = Field(6.0, gt=0, le=60)  # a typing indicator ends by itself after this
    # VOICE calls: each worker says it is alive this often; one silent for 4 beats loses its participants.
    voice_heartbeat_seconds: float = Field(5.0, ge=0.5, le=60)
    # A user opens a direct conversation only with someone they share a workspace with (docs/PROTOCOL.md).
    dm_require_shared_workspace: bool = True
    # How long a deleted channel message's content and files are kept for review (docs/PROTOCOL.md).
    moderation_retention_seconds: float = Field(30 * 86400, ge=1, le=10 * 365 * 86400)
    # Outbound mail (connectnow/mail.py): e-mail verification and password reset links.
    mail_transport: Literal["log", "smtp"] = "log"
    mail_from: str = "ConnectNow <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=120)
    email_verify_ttl_seconds: int = Field(2 * 86400, ge=60, le=30 * 86400)
    password_reset_ttl_seconds: int = Field(3600, ge=60, le=86400)
    # The mail outbox (invitations; connectnow/services/mail_outbox.py): attempts per mail, the first retry's
    # delay (doubling, capped at an hour), and the worker's fallback poll.
    # Calendars subscribed to an ICS URL (docs/SIDECAR-CALENDAR.md): the shortest refresh interval, the fetch
    # time bound, and whether loopback/private hosts may be fetched (tests, LAN servers; off by default).
    calendar_subscription_min_interval_seconds: int = Field(900, ge=1, le=7 * 86400)
    calendar_subscription_timeout_seconds: float = Field(20.0, gt=0, le=120)
    calendar_subscription_allow_private: bool = False
    mail_max_attempts: int = Field(6, ge=1, le=20)
    mail_retry_base_seconds: float = Field(30.0, ge=0.05, le=3600)
    mail_poll_seconds: float = Field(5.0, gt=0, le=600)
    # Invitation mails one user may have queued in 24 hours (calendar sendUpdates): the server is no open relay.
    invitation_mails_per_day: int = Field(500, ge=1, le=100_000)
    moderation_poll_seconds: float = Field(60.0, gt=0, le=3600)  # also paces channel deletion jobs

    @field_validator("attachment_allowed_types", mode="before")
    @classmethod
    def _attachment_types_from_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    # --- scheduling sidecar (documented in docs/SIDECAR-SCHEDULING.md) ---
    encryption_keys: SecretStr | None = None  # "id:base64key,..." (32-byte AES-256 keys); required in production
    encryption_active_key: str | None = None  # the id that encrypts new values (default: the first key)
    summary_retention_days: int = Field(90, ge=1, le=3650)  # default when a user has no AI configuration
    form_retention_days: int = Field(90, ge=1, le=3650)  # after a booking ends, its form data is purged
    audit_retention_days: int = Field(365, ge=1, le=3650)
    reminder_minutes_before: int = Field(60, ge=1, le=7 * 24 * 60)
    reminder_webhook_url: str | None = Field(None, pattern=r"^https?://\S+$")
    reminder_webhook_secret: SecretStr | None = None  # signs reminder webhooks (X-ConnectNow-Signature)
    scheduling_job_poll_seconds: float = Field(5.0, gt=0)
    scheduling_job_lease_seconds: float = Field(120.0, ge=5)
    scheduling_purge_interval_seconds: float = Field(3600.0, ge=10)

    # --- broadcasts sidecar (documented in docs/SIDECAR-BROADCASTS.md) ---
    phone_default_region: str | None = Field(None, pattern=r"^[A-Z]{2}$")  # reads numbers without +country
    broadcast_horizon_days: int = Field(120, ge=1, le=3650)  # like Slack's chat.scheduleMessage limit
    broadcast_target_quota: int = Field(100, ge=1, le=100_000)  # pending scheduled messages per target
    broadcast_max_attempts: int = Field(5, ge=1, le=50)
    broadcast_retry_base_seconds: float = Field(5.0, gt=0)
    broadcast_retry_cap_seconds: float = Field(300.0, gt=0)
    broadcast_lease_seconds: float = Field(60.0, ge=1)
    broadcast_poll_seconds: float = Field(1.0, gt=0)
    broadcast_late_flag_seconds: float = Field(60.0, ge=0)  # later than this: delivered with late=true
    broadcast_late_grace_seconds: float = Field(6 * 3600.0, ge=1)  # later than this: failed, never sent
    broadcast_webhook_url: str | None = Field(None, pattern=r"^https?://\S+$")  # fallback for every user
    broadcast_webhook_secret: SecretStr | None = None  # the fallback webhook's HMAC key
    broadcast_webhook_timeout_seconds: float = Field(10.0, gt=0, le=120)
    broadcast_webhook_allow_private: bool = False  # allow loopback/private webhook hosts (tests, LAN gateways)
    broadcast_import_max_rows: int = Field(10_000, ge=1)
    # Recurring broadcasts (docs/SIDECAR-BROADCASTS.md): the shortest gap between occurrences, the most
    # occurrences in a year, and how long before an occurrence it becomes a scheduled message.
    broadcast_series_min_interval_seconds: float = Field(3600.0, ge=1, le=365 * 86400)
    broadcast_series_max_per_year: int = Field(366, ge=1, le=10_000)
    broadcast_series_lead_seconds: float = Field(300.0, ge=0, le=86400)

    # --- calendar sidecar (documented in docs/SIDECAR-CALENDAR.md) ---
    calendar_ics_max_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)  # one ICS import
    calendar_poll_seconds: float = Field(1.0, gt=0, le=60)  # reminder and export workers look this often

    # --- presence ---------------------------------------------------------------------------
    presence_away_after_seconds: float = Field(300.0, ge=0.2)  # no activity on any socket this long: AWAY
    presence_offline_grace_seconds: float = Field(5.0, ge=0, le=300)  # a reload within this stays ONLINE
    presence_heartbeat_seconds: float = Field(10.0, ge=0.05)  # how often a worker renews its connections
    presence_ttl_seconds: float = Field(30.0, ge=0.2)  # a connection not renewed this long has lapsed
    presence_sweep_seconds: float = Field(2.0, ge=0.05)  # how often a worker looks for lapsed users
    presence_last_active_write_seconds: float = Field(5.0, ge=0)  # lastActiveAt is stored at most this often
    presence_broadcast_max_members: int = Field(200, ge=0)  # bigger workspaces: presence:subscribe to hear changes
    metrics_token: SecretStr | None = None  # /metrics answers this bearer token...
    metrics_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)  # ...or these peers
    sync_max_messages: int = Field(500, ge=1, le=10_000)  # past this many changes, sync answers recovered=false
    dashboard_interval_seconds: float = Field(2.0, ge=0.2, le=60)  # how often the dashboard numbers refresh

    # --- hardening (documented in README.md) -----------------------------------------------
    rate_auth_address_burst: int = Field(30, ge=1)  # sign-in, registration, refresh requests from one address
    rate_auth_address_per_second: float = Field(0.5, gt=0)
    rate_auth_account_burst: int = Field(20, ge=1)  # sign-in attempts naming one account, from any address
    rate_auth_account_per_second: float = Field(0.2, gt=0)
    auth_lockout_failures: int = Field(5, ge=1, le=1000)  # failed sign-ins of one account from one address...
    auth_lockout_seconds: float = Field(30.0, gt=0, le=3600)  # ...then one more try per this many seconds
    socket_connect_timeout_seconds: float = Field(20.0, gt=0, le=600)  # Engine.IO session without CONNECT
    max_sockets_per_user: int = Field(20, ge=1, le=10_000)  # over every worker; the next one: TOO_MANY_SOCKETS
    max_sessions_per_user: int = Field(50, ge=1, le=10_000)  # sign-in sessions; a new one ends the oldest

    @field_validator("allowed_origins", "trusted_proxies", "metrics_allowed_networks", mode="before")
    @classmethod
    def _origins_from_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies", "metrics_allowed_networks")
    @classmethod
    def _ip_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return value

    @property
    def proxy_networks(self) -> list[str]:
        """The proxies whose forwarding headers are believed (the deprecated boolean means this host)."""
        if self.trusted_proxies:
            return self.trusted_proxies
        return ["127.0.0.1", "::1"] if self.trust_proxy_headers else []

    @field_validator("database_url")
    @classmethod
    def _known_database_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite:///", "mongodb://", "mongodb+srv://")):
            raise ValueError(
                "CONNECTNOW_DATABASE_URL must start with sqlite:///, mongodb:// or mongodb+srv:// "
                "(leave it unset for the embedded SQLite default)"
            )
        return value

    @model_validator(mode="after")
    def _check_deployment(self) -> Settings:
        """Every problem that must stop a start, reported together so an operator fixes them in one go."""
        from connectnow.crypto import KeyConfigError, keyring_from_settings

        problems = []
        if not self.is_development and self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
            problems.append(
                "CONNECTNOW_SECRET_KEY still has its default value, which is only allowed with "
                "CONNECTNOW_ENV=development. Set it to a long random value, e.g. the output of: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        elif len(self.secret_key.get_secret_value()) < 16:
            problems.append("CONNECTNOW_SECRET_KEY must be at least 16 characters long")
        try:
            keyring_from_settings(self)
        except KeyConfigError as exc:
            problems.append(
                f"{exc}. Set CONNECTNOW_ENCRYPTION_KEYS=main:<base64 of 32 random bytes>, e.g. the output of: "
                "python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
            )
        if self.workers > 1 and not self.redis_url:
            problems.append(
                "CONNECTNOW_WORKERS > 1 needs CONNECTNOW_REDIS_URL: without Redis, events fan out inside one "
                "process only"
            )
        if problems:
            raise ValueError("\n    ".join(problems))
        return self

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @cached_property
    def storage_kind(self) -> StorageKind:
        if self.database_url and self.database_url.startswith("mongodb"):
            return StorageKind.MONGODB
        return StorageKind.SQLITE

    @cached_property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "connectnow.db"

    @property
    def secret_bytes(self) -> bytes:
        return self.secret_key.get_secret_value().encode()
