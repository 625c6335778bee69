"""Fan-out across workers and hosts through Redis pub/sub.

The listener is watched: if it dies or Redis goes away it is restarted with backoff, the restart is counted,
and `check()` reports it to /readyz. A listener can also stall without dying (a handler that hangs, a half-
open connection): every worker publishes a ping through the channel and expects its own echo; when echoes stop
while publishing works, the listener is restarted and the stall counted. A failed publish is never swallowed:
the message is delivered to this worker's sockets at once, the failure is counted and logged, and clients on
other workers catch up from the database through `sync` (python-socketio issue 1581 is what happens
otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from connectnow.realtime.broker import BrokerHealth, MessageHandler
from connectnow.realtime.tasks import bounded, raise_if_cancelling, stop_task

log = logging.getLogger("connectnow.broker.redis")

RECONNECT_BACKOFF_MIN_SECS = 0.2
RECONNECT_BACKOFF_MAX_SECS = 5.0
LISTEN_POLL_TIMEOUT_SECS = 1.0
PROBE_TIMEOUT_SECS = 2.0
WATCHDOG_INTERVAL_SECS = 5.0
STALL_AFTER_MISSED_ECHOES = 3
PING_OP = "_ping"


class RedisBroker:
    name = "redis"

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        watchdog_interval: float = WATCHDOG_INTERVAL_SECS,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.url = url
        self.channel = f"{prefix}:events"
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._redis = aioredis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_SECS, health_check_interval=10)
        self._handler: MessageHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._stopping = False
        self.listener_restarts = 0
        self.stalls = 0
        self.publish_failures = 0
        self.last_error: str | None = None
        self.watchdog_interval = watchdog_interval
        self._last_echo = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None
        self.on_lag = on_lag  # pub/sub lag of each echo, for metrics

    async def start(self, handler: MessageHandler) -> None:
        self._handler = handler
        # Keep a reference: an unreferenced task can be garbage-collected mid-run.
        self._task = asyncio.create_task(self._listen_forever(), name="redis-broker-listener")
        self._watchdog = asyncio.create_task(self._watch(), name="redis-broker-watchdog")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=PROBE_TIMEOUT_SECS * 2)

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.watchdog_interval)
            try:
                await self._redis.publish(
                    self.channel, orjson.dumps({"op": PING_OP, "w": self.worker_id, "ts": time.time()})
                )
            except (RedisError, OSError):
                continue  # Redis is down: the listener loop already reconnects; this is not a stall
            if self._stalled():
                self.stalls += 1
                self.listener_restarts += 1
                self.last_error = "listener stalled: its own pings stopped coming back"
                log.error("%s; restarting it", self.last_error)
                self._restart_listener()

    def _stalled(self) -> bool:
        waited = time.monotonic() - self._last_echo
        return self._subscribed.is_set() and waited > self.watchdog_interval * STALL_AFTER_MISSED_ECHOES

    def _restart_listener(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._subscribed.clear()
        self._last_echo = time.monotonic()
        self._task = asyncio.create_task(self._listen_forever(), name="redis-broker-listener")

    async def _listen_forever(self) -> None:
        backoff = RECONNECT_BACKOFF_MIN_SECS
        first = True
        while not self._stopping:
            if not first:
                self.listener_restarts += 1
            first = False
            try:
                await self._listen_once()
                backoff = RECONNECT_BACKOFF_MIN_SECS
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                raise_if_cancelling()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("redis listener lost (%s); restarting in %.1fs", self.last_error, backoff)
            except Exception:
                raise_if_cancelling()
                self.last_error = "listener crashed"
                log.exception("redis listener crashed; restarting in %.1fs", backoff)
            self._subscribed.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX_SECS)

    async def _listen_once(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            self._last_echo = time.monotonic()
            self.last_error = None
            while not self._stopping:
                message = await pubsub.get_message(timeout=LISTEN_POLL_TIMEOUT_SECS)
                if message is None or message.get("type") != "message":
                    continue
                await self._deliver(message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _deliver(self, raw: bytes) -> None:
        if self._handler is None:
            return
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.error("dropping an undecodable broker message of %d bytes", len(raw))
            return
        if payload.get("op") == PING_OP:
            if payload.get("w") == self.worker_id:
                self._last_echo = time.monotonic()
                if self.on_lag is not None:
                    self.on_lag(max(0.0, time.time() - float(payload.get("ts", time.time()))))
            return
        try:
            await self._handler(payload)
        except Exception:
            raise_if_cancelling()
            log.exception("broker message handler failed")

    async def publish(self, message: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self.channel, orjson.dumps(message))
        except (RedisError, OSError) as exc:
            raise_if_cancelling()
            self.publish_failures += 1
            self.last_error = f"publish failed: {type(exc).__name__}: {exc}"
            log.warning("%s; delivering to this worker only", self.last_error)
            if self._handler is not None:
                await self._handler(message)

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._watchdog, self._task):
            await stop_task(task)
        await bounded(self._redis.aclose(), "closing the Redis broker connection")

    async def check(self) -> BrokerHealth:
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=PROBE_TIMEOUT_SECS)
        except (RedisError, OSError, TimeoutError) as exc:
            return self._health(False, f"redis unreachable: {type(exc).__name__}: {exc}")
        if self._task is None or self._task.done():
            return self._health(False, "redis listener is not running")
        if not self._subscribed.is_set():
            return self._health(False, f"redis listener reconnecting ({self.last_error})")
        if self._stalled():
            return self._health(False, "redis listener stalled (its own pings stopped coming back)")
        return self._health(True, "redis ok")

    def _health(self, ok: bool, detail: str) -> BrokerHealth:
        return BrokerHealth(
            ok=ok,
            detail=detail,
            listener_restarts=self.listener_restarts,
            publish_failures=self.publish_failures,
        )
