"""In-process fan-out: the default with one worker and no Redis. A real implementation, not a test double."""

from __future__ import annotations

from typing import Any

from connectnow.realtime.broker import BrokerHealth, MessageHandler


class MemoryBroker:
    name = "memory"

    def __init__(self) -> None:
        self._handler: MessageHandler | None = None

    async def start(self, handler: MessageHandler) -> None:
        self._handler = handler

    async def publish(self, message: dict[str, Any]) -> None:
        if self._handler is None:
            raise RuntimeError("broker not started")
        await self._handler(message)

    async def stop(self) -> None:
        self._handler = None

    async def check(self) -> BrokerHealth:
        return BrokerHealth(ok=self._handler is not None, detail="in-process")
