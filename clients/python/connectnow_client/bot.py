"""A small bot framework on the client and the stream.

```python
bot = Bot("http://127.0.0.1:8000", api_key="cnk_...")

@bot.command("deploy")                       # "/deploy api prod"
async def deploy(ctx: Context) -> None:
    await ctx.reply(f"deploying {' '.join(ctx.args)}")   # in the message's thread

@bot.on_message(channel="01a1...")           # every other message in that channel
async def watch(ctx: Context) -> None:
    await ctx.react("eyes")

await bot.run()
```

The bot never sees its own messages. Each message is handled once, including those it missed while
disconnected (the stream recovers them). Replies carry a `clientMsgId` derived from the message they answer,
so a handler run again for the same message (after a crash and restart, say) does not post a second reply.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from connectnow_client.client import Client
from connectnow_client.errors import ConnectNowError
from connectnow_client.models import Message, Reaction
from connectnow_client.stream import Stream

log = logging.getLogger("connectnow_client.bot")

Handler = Callable[["Context"], Awaitable[None]]
MAX_CONCURRENT_HANDLERS = 16


@dataclass
class Context:
    """What a handler gets: the message, the command's arguments, and ways to answer."""

    bot: Bot
    message: Message
    command: str | None = None
    args: list[str] = field(default_factory=list)
    _replies: int = 0

    @property
    def client(self) -> Client:
        return self.bot.client

    async def reply(self, content: str) -> Message:
        """Answer in the message's thread (in the conversation, for a direct message). Idempotent per
        (message, n-th reply of this handler run)."""
        self._replies += 1
        key = f"re-{self.message.id}-{self._replies}"
        if self.message.conversation_id is not None:
            return await self.client.send_direct(self.message.conversation_id, content, client_msg_id=key)
        return await self.client.reply(self.message, content, client_msg_id=key)

    async def say(self, content: str) -> Message:
        """Post in the message's channel or direct conversation (not in a thread)."""
        self._replies += 1
        key = f"say-{self.message.id}-{self._replies}"
        if self.message.conversation_id is not None:
            return await self.client.send_direct(self.message.conversation_id, content, client_msg_id=key)
        return await self.client.send_message(self.message.channel_id, content, client_msg_id=key)

    async def react(self, emoji: str) -> list[Reaction]:
        """React to a channel message (direct messages take no reactions)."""
        return await self.client.react(self.message.id, emoji)


@dataclass(frozen=True)
class _Route:
    handler: Handler
    channel: str | None


class Bot:
    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        prefix: str = "/",
        client: Client | None = None,
        hole_wait: float = 1.5,
        reconnect_min: float = 1.0,
    ) -> None:
        self.client = client or Client(url, api_key=api_key, token=token)
        self.prefix = prefix
        self.commands: dict[str, _Route] = {}
        self.listeners: list[_Route] = []
        self.direct_listeners: list[Handler] = []
        self.user_id: str | None = None
        self.stream = Stream(self.client, on_message=self._on_message, hole_wait=hole_wait,
                             reconnect_min=reconnect_min)  # fmt: skip
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_HANDLERS)
        self._running: set[asyncio.Task[None]] = set()

    # --- registration -----------------------------------------------------------------------------------
    def command(self, name: str, *, channel: str | None = None) -> Callable[[Handler], Handler]:
        """Handle `{prefix}{name} args...` (in `channel` only, if given)."""

        def register(handler: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command {name!r} registered twice")
            self.commands[name] = _Route(handler, channel)
            if channel is not None:
                self.stream.watch(channel)
            return handler

        return register

    def on_message(self, *, channel: str | None = None) -> Callable[[Handler], Handler]:
        """Handle every message that is not a command (in `channel` only, if given)."""

        def register(handler: Handler) -> Handler:
            self.listeners.append(_Route(handler, channel))
            if channel is not None:
                self.stream.watch(channel)
            return handler

        return register

    def on_direct_message(self) -> Callable[[Handler], Handler]:
        """Handle every direct message to the bot that is not a command (commands work in direct messages too,
        unless registered for one channel)."""

        def register(handler: Handler) -> Handler:
            self.direct_listeners.append(handler)
            return handler

        return register

    def watch(self, channel_id: str) -> None:
        """Follow a channel from the start, so messages missed before its first live event are recovered too."""
        self.stream.watch(channel_id)

    # --- running ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until `stop()`; raises `ConnectNowError` if the server refuses the credentials for good."""
        me = await self.client.me()
        self.user_id = me.id
        log.info("signed in as %s (%s)", me.username, me.id)
        try:
            await self.stream.run()
        finally:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            await self.client.close()

    def stop(self) -> None:
        self.stream.stop()

    # --- dispatch -----------------------------------------------------------------------------------------
    def parse_command(self, content: str) -> tuple[str, list[str]] | None:
        if not content.startswith(self.prefix):
            return None
        try:
            words = shlex.split(content[len(self.prefix) :])
        except ValueError:
            words = content[len(self.prefix) :].split()
        return (words[0], words[1:]) if words else None

    async def _on_message(self, message: Message) -> None:
        if message.user_id == self.user_id or message.type == "SYSTEM":
            return
        parsed = self.parse_command(message.content)
        if parsed is not None and parsed[0] in self.commands:
            route = self.commands[parsed[0]]
            if route.channel in (None, message.channel_id):
                self._spawn(route.handler, Context(self, message, parsed[0], parsed[1]))
            return
        if message.is_direct:
            for handler in self.direct_listeners:
                self._spawn(handler, Context(self, message))
            return
        for route in self.listeners:
            if route.channel in (None, message.channel_id):
                self._spawn(route.handler, Context(self, message))

    def _spawn(self, handler: Handler, ctx: Context) -> None:
        """Handlers run beside the stream (a slow one does not hold up the others), at most 16 at a time."""
        task = asyncio.create_task(self._guarded(handler, ctx))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _guarded(self, handler: Handler, ctx: Context) -> None:
        async with self._slots:
            try:
                await handler(ctx)
            except ConnectNowError as exc:
                log.warning("handler %s refused: %s", getattr(handler, "__name__", handler), exc)
            except Exception:
                log.exception("handler %s failed", getattr(handler, "__name__", handler))
