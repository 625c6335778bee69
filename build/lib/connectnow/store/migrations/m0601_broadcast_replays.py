"""Broadcasts: a replayed schedule request (same clientRequestId) finds the message it already created."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0601_broadcast_replays",
    description="unique request keys for scheduled messages",
    indexes=(
        # "{userId}:{clientRequestId}", absent when the client sent none: sparse, so those never collide.
        Index("scheduled_messages", "ux_scheduled_request", (("requestKey", 1),), unique=True, sparse=True),
    ),
)
