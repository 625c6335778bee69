"""E-mail verification and password-reset tokens, stored as digests."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0154_account_tokens",
    description="single-use account tokens (verification, password reset)",
    collections=("account_tokens",),
    indexes=(
        Index("account_tokens", "ux_account_tokens_hash", (("tokenHash", 1),), unique=True),
        Index("account_tokens", "ix_account_tokens_user", (("userId", 1), ("purpose", 1))),
    ),
)
