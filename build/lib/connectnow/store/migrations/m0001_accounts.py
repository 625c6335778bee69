"""Accounts: users, sessions, refresh tokens and API keys (seed 002 USERS, SESSIONS; seed 000 apiKeys)."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0001_accounts",
    description="users, sessions, refresh tokens, API keys",
    collections=("users", "sessions", "refresh_tokens", "api_keys"),
    indexes=(
        # Case-insensitive uniqueness: the lower-cased copies carry the unique indexes.
        Index("users", "ux_users_email", (("emailLower", 1),), unique=True),
        Index("users", "ux_users_username", (("usernameLower", 1),), unique=True),
        Index("sessions", "ux_sessions_token", (("tokenHash", 1),), unique=True),
        Index("sessions", "ix_sessions_user", (("userId", 1), ("createdAt", -1))),
        Index("refresh_tokens", "ux_refresh_tokens_hash", (("tokenHash", 1),), unique=True),
        Index("refresh_tokens", "ix_refresh_tokens_session", (("sessionId", 1),)),
        Index("api_keys", "ux_api_keys_hash", (("keyHash", 1),), unique=True),
        Index("api_keys", "ix_api_keys_user", (("userId", 1), ("createdAt", -1))),
    ),
)
