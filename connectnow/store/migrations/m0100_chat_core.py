"""Chat core: workspaces, invites, bans, channels, channel members, messages, reactions, counters."""

from connectnow.store.schema import Index, Migration, TextIndex

MIGRATION = Migration(
    id="0100_chat_core",
    description="workspaces, members, invites, bans, channels, channel members, messages, reactions, counters",
    collections=(
        "workspaces",
        "workspace_members",
        "workspace_invites",
        "workspace_bans",
        "channels",
        "channel_members",
        "messages",
        "message_reactions",
        "conversation_counters",
    ),
    indexes=(
        Index("workspaces", "ux_workspaces_slug", (("slug", 1),), unique=True),
        Index("workspace_members", "ux_workspace_members_user", (("workspaceId", 1), ("userId", 1)), unique=True),
        Index("workspace_members", "ix_workspace_members_by_user", (("userId", 1),)),
        Index("workspace_invites", "ux_workspace_invites_code", (("codeHash", 1),), unique=True),
        Index("workspace_invites", "ix_workspace_invites_ws", (("workspaceId", 1), ("createdAt", -1))),
        Index("workspace_bans", "ux_workspace_bans_user", (("workspaceId", 1), ("userId", 1)), unique=True),
        Index("channels", "ux_channels_name", (("workspaceId", 1), ("nameLower", 1)), unique=True),
        Index("channels", "ix_channels_position", (("workspaceId", 1), ("position", 1))),
        Index("channel_members", "ux_channel_members_user", (("channelId", 1), ("userId", 1)), unique=True),
        Index("channel_members", "ix_channel_members_by_user", (("userId", 1), ("workspaceId", 1))),
        # Idempotency: one message per (conversation, sender, clientMsgId), folded into one key so the index
        # is single-field (sparse-capable) on both adapters.
        Index("messages", "ux_messages_dedupe", (("dedupeKey", 1),), unique=True),
        # Not unique: a message exists for a moment before its seq is set (see MessageLog.append), and
        # MongoDB would index those missing seqs as equal nulls. The counter guarantees uniqueness.
        Index("messages", "ix_messages_seq", (("channelId", 1), ("seq", 1))),
        Index("messages", "ix_messages_event_seq", (("channelId", 1), ("lastEventSeq", 1))),
        Index("messages", "ix_messages_parent", (("parentId", 1), ("seq", 1))),
        Index(
            "message_reactions",
            "ux_message_reactions",
            (("messageId", 1), ("userId", 1), ("emoji", 1)),
            unique=True,
        ),
    ),
    text_indexes=(TextIndex("messages", "tx_messages_content", ("content",)),),
)
