"""Who a channel message notifies: direct @mentions, `@here` and `@channel`, after mutes, notify levels and BUSY.

The rules (docs/PROTOCOL.md "Notifications"):
- a member's effective level is NOTHING if they chose it, else MENTIONS when the channel is muted, else their
  choice (ALL by default); readers of a public channel who never joined it count as ALL;
- a direct @username mention notifies unless the level is NOTHING (it breaks through a mute and BUSY: the
  user was named);
- `@channel` notifies every channel member who is neither muted, nor at NOTHING, nor BUSY; `@here` only those
  of them who are ONLINE now.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from connectnow.services.chat_access import ChatAccess
from models.channels import ChannelMemberRecord, NotifyLevel
from models.messages import MessageRecord

BROAD = re.compile(r"(?<![\w@])@(here|channel)(?![\w.-])")
BROAD_NAMES = frozenset({"here", "channel"})  # never resolved as usernames

# user ids -> presence status ("ONLINE", "AWAY", "BUSY", "OFFLINE"); wired by the node from the presence service
StatusReader = Callable[[list[str]], Awaitable[dict[str, str]]]


def broad_scope(content: str) -> str | None:
    """`channel` if the content says @channel, else `here` if it says @here, else None."""
    found = set(BROAD.findall(content))
    if "channel" in found:
        return "channel"
    return "here" if found else None


def effective_level(cm: ChannelMemberRecord | None) -> NotifyLevel:
    if cm is None:
        return NotifyLevel.ALL
    if cm.notify is NotifyLevel.NOTHING:
        return NotifyLevel.NOTHING
    return NotifyLevel.MENTIONS if cm.is_muted else cm.notify


def badge(cm: ChannelMemberRecord, unread: int, mentions: int) -> int:
    level = effective_level(cm)
    if level is NotifyLevel.NOTHING:
        return 0
    return mentions if level is NotifyLevel.MENTIONS else unread


class Notifier:
    def __init__(self, access: ChatAccess, statuses: StatusReader | None = None) -> None:
        self.access = access
        self.statuses = statuses  # without presence everyone counts as ONLINE

    async def recipients(self, record: MessageRecord, mentioned: list[str], *, broad: bool) -> list[str]:
        """The users to send `message:mention` to: `mentioned` (new direct mentions) filtered by their level,
        plus, when `broad`, the audience of the message's @here / @channel."""
        channel_id = record.channel_id
        members: dict[str, ChannelMemberRecord] = {}
        if mentioned:
            rows = await self.access.channel_members.of_users(channel_id, mentioned)
            members = {cm.user_id: cm for cm in rows}
        direct = [u for u in mentioned if effective_level(members.get(u)) is not NotifyLevel.NOTHING]
        if not broad or record.broadcast is None:
            return direct
        skip = {record.user_id, *mentioned}
        candidates = [
            cm.user_id
            for cm in await self.access.channel_members.in_channel(channel_id)
            if cm.user_id not in skip and not cm.is_muted and cm.notify is not NotifyLevel.NOTHING
        ]
        statuses = await self.statuses(candidates) if self.statuses is not None and candidates else {}
        # BUSY (do not disturb) is in neither set: broad mentions never reach it.
        wanted = {"ONLINE"} if record.broadcast == "here" else {"ONLINE", "AWAY", "OFFLINE"}
        return direct + [u for u in candidates if statuses.get(u, "ONLINE") in wanted]
