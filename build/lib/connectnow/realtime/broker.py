"""The broker carries events between worker processes.

`publish` hands a message to every worker, the publisher included, exactly once; each worker's hub then
delivers it to its own sockets. In-process (`broker_memory.py`) is the embedded default for one worker;
Redis pub/sub (`broker_redis.py`) serves any number of workers and hosts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

MessageHandler = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class BrokerHealth:
    ok: bool
    detail: str
    listener_restarts: int = 0
    publish_failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Broker(Protocol):
    name: str

    async def start(self, handler: MessageHandler) -> None: ...

    async def publish(self, message: dict[str, Any]) -> None: ...

    async def stop(self) -> None: ...

    async def check(self) -> BrokerHealth:
        """Actively probe the back-end (for /readyz)."""
        ...
