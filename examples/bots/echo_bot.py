"""An echo and command bot on connectnow_client (clients/python): run it, then talk to it in a channel.

- `/deploy <service> [env]`: reacts with :rocket: and answers in the thread "deploying <service> to <env>";
- `/echo <text>`: answers <text> in the thread;
- any other message in the channel: answers "echo: <message>" in the thread;
- a direct message: answers "echo: <message>" in the conversation.

Messages sent while the bot was disconnected are answered when it is back (the stream recovers them), and
each message is answered once. Environment: CONNECTNOW_URL, CN_API_KEY (a bot's API key), CN_CHANNEL_ID
(answer only there; every channel the key's user is in otherwise). Prints one JSON line per answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

from connectnow_client import Bot, Context


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"set {name}")
    return value


def report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def build_bot() -> Bot:
    channel = os.environ.get("CN_CHANNEL_ID") or None
    bot = Bot(env("CONNECTNOW_URL"), api_key=env("CN_API_KEY"),
              reconnect_min=float(env("CN_RECONNECT_DELAY", "1.0")))  # fmt: skip

    @bot.command("deploy", channel=channel)
    async def deploy(ctx: Context) -> None:
        if not ctx.args:
            await ctx.reply("usage: /deploy <service> [env]")
            return
        service, target = ctx.args[0], ctx.args[1] if len(ctx.args) > 1 else "staging"
        await ctx.react(":rocket:")
        answer = await ctx.reply(f"deploying {service} to {target}")
        report(handled=ctx.message.id, command="deploy", reply=answer.id, reconnects=bot.stream.reconnects)

    @bot.command("echo", channel=channel)
    async def echo_command(ctx: Context) -> None:
        answer = await ctx.reply(" ".join(ctx.args) or "(nothing to echo)")
        report(handled=ctx.message.id, command="echo", reply=answer.id, reconnects=bot.stream.reconnects)

    @bot.on_message(channel=channel)
    async def echo(ctx: Context) -> None:
        answer = await ctx.reply(f"echo: {ctx.message.content}")
        report(handled=ctx.message.id, command=None, reply=answer.id, reconnects=bot.stream.reconnects)

    @bot.on_direct_message()
    async def echo_direct(ctx: Context) -> None:
        answer = await ctx.reply(f"echo: {ctx.message.content}")
        report(handled=ctx.message.id, command=None, reply=answer.id, reconnects=bot.stream.reconnects)

    return bot


async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    bot = build_bot()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, bot.stop)

    async def announce_ready() -> None:
        await bot.stream.connected.wait()
        report(ready=True, user=bot.user_id)

    ready = asyncio.create_task(announce_ready())
    try:
        await bot.run()
    finally:
        ready.cancel()


if __name__ == "__main__":
    asyncio.run(main())
