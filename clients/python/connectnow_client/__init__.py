"""ConnectNow's Python client: typed REST calls, a recovering Socket.IO stream, and a small bot framework.

See docs/BOTS.md in the ConnectNow repository.
"""

from connectnow_client.bot import Bot, Context
from connectnow_client.client import Client, new_client_msg_id
from connectnow_client.errors import ConnectNowError, RateLimited
from connectnow_client.models import Channel, ChannelEvent, Message, Reaction, User, Workspace
from connectnow_client.stream import Stream

__all__ = [
    "Bot",
    "Channel",
    "ChannelEvent",
    "Client",
    "ConnectNowError",
    "Context",
    "Message",
    "RateLimited",
    "Reaction",
    "Stream",
    "User",
    "Workspace",
    "new_client_msg_id",
]
