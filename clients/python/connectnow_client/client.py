"""Typed REST calls with an API key (`cnk_...`) or a user's access token (`cna_...`).

Refusals raise `ConnectNowError` with the server's code. `RATE_LIMITED` is retried after the `retryAfter` the
server gave (up to `max_retries` times, each wait capped at `max_retry_wait`), then raised as `RateLimited`.
Sends carry a `clientMsgId`, so a retry after a lost answer never stores a message twice.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import httpx

from connectnow_client.errors import ConnectNowError, RateLimited
from connectnow_client.models import Channel, Message, Reaction, User, Workspace

API = "/api/v1"
DEFAULT_RETRY_WAIT = 1.0  # when a retryable refusal names no delay
TRANSPORT_RETRY_METHODS = frozenset({"GET", "PUT", "DELETE"})  # safe to repeat after a network error


def new_client_msg_id() -> str:
    return uuid.uuid4().hex


class Client:
    """`async with Client("http://host:8000", api_key="cnk_...") as cn: await cn.send_message(...)`."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        max_retries: int = 5,
        max_retry_wait: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        credential = api_key or token
        if not credential:
            raise ValueError("give an API key (api_key=) or a user's access token (token=)")
        self.url = url.rstrip("/")
        self.credential = credential
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {credential}"}
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    # --- the one way a call is made ---------------------------------------------------------------------
    async def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None, safe: bool = False
    ) -> Any:
        """Call `path` (under /api/v1 unless it starts with it) and return the decoded JSON body.

        `safe`: the request may be repeated after a network error (GET, PUT, DELETE always are; a send with a
        clientMsgId is too)."""
        url = path if path.startswith(API) else API + path
        repeatable = safe or method in TRANSPORT_RETRY_METHODS
        attempt = 0
        while True:
            try:
                response = await self.http.request(method, url, json=json, params=params)
            except httpx.TransportError:
                if not repeatable or attempt >= self.max_retries:
                    raise
                await asyncio.sleep(min(DEFAULT_RETRY_WAIT * 2**attempt, self.max_retry_wait))
                attempt += 1
                continue
            if response.status_code < 400:
                return response.json() if response.content else None
            error = self._error(response)
            if not self._should_retry(error, repeatable, attempt):
                if error.code == "RATE_LIMITED":
                    raise RateLimited(error.code, error.message, status=error.status, retryable=True,
                                      details=error.details)  # fmt: skip
                raise error
            await asyncio.sleep(self._wait(error, attempt))
            attempt += 1

    def _should_retry(self, error: ConnectNowError, repeatable: bool, attempt: int) -> bool:
        if attempt >= self.max_retries:
            return False
        # A rate-limited request was refused before anything happened: repeating it is always safe.
        return error.code == "RATE_LIMITED" or (error.retryable and repeatable)

    def _wait(self, error: ConnectNowError, attempt: int) -> float:
        told = error.retry_after
        return min(told if told is not None else DEFAULT_RETRY_WAIT * 2**attempt, self.max_retry_wait)

    @staticmethod
    def _error(response: httpx.Response) -> ConnectNowError:
        try:
            body = response.json()
        except ValueError:
            body = None
        return ConnectNowError.from_body(body, response.status_code)

    # --- typed calls --------------------------------------------------------------------------------------
    async def me(self) -> User:
        return User.from_wire(await self.request("GET", "/users/me"))

    async def workspaces(self) -> list[Workspace]:
        return [Workspace.from_wire(w) for w in await self.request("GET", "/workspaces")]

    async def join_workspace(self, workspace_id: str) -> Workspace:
        return Workspace.from_wire(await self.request("POST", f"/workspaces/{workspace_id}/join", safe=True))

    async def channels(self, workspace_id: str) -> list[Channel]:
        return [Channel.from_wire(c) for c in await self.request("GET", f"/workspaces/{workspace_id}/channels")]

    async def join_channel(self, channel_id: str) -> Channel:
        return Channel.from_wire(await self.request("POST", f"/channels/{channel_id}/join", safe=True))

    async def send_message(
        self, channel_id: str, content: str, *, parent_id: str | None = None, client_msg_id: str | None = None
    ) -> Message:
        """Post to a channel (in a thread with `parent_id`). The same `client_msg_id` again answers the
        message already stored instead of storing a second one."""
        body: dict[str, Any] = {"content": content, "clientMsgId": client_msg_id or new_client_msg_id()}
        if parent_id is not None:
            body["parentId"] = parent_id
        return Message.from_wire(await self.request("POST", f"/channels/{channel_id}/messages", json=body, safe=True))

    async def reply(self, to: Message, content: str, *, client_msg_id: str | None = None) -> Message:
        """Reply in the thread of `to` (a reply to a reply stays in the same thread)."""
        return await self.send_message(to.channel_id, content, parent_id=to.thread_id, client_msg_id=client_msg_id)

    async def open_direct(self, user_id: str) -> str:
        """The id of the direct conversation with a user (created if needed)."""
        found = await self.request("POST", "/direct/conversations", json={"userId": user_id}, safe=True)
        return str(found["id"])

    async def send_direct(self, conversation_id: str, content: str, *, client_msg_id: str | None = None) -> Message:
        """Post in a direct conversation (same idempotency as channel sends)."""
        body = {"content": content, "clientMsgId": client_msg_id or new_client_msg_id()}
        path = f"/direct/conversations/{conversation_id}/messages"
        return Message.from_wire(await self.request("POST", path, json=body, safe=True))

    async def get_message(self, message_id: str) -> Message:
        return Message.from_wire(await self.request("GET", f"/messages/{message_id}"))

    async def edit_message(self, message_id: str, content: str, version: int) -> Message:
        body = {"content": content, "version": version}
        return Message.from_wire(await self.request("PATCH", f"/messages/{message_id}", json=body))

    async def delete_message(self, message_id: str) -> Message:
        return Message.from_wire(await self.request("DELETE", f"/messages/{message_id}"))

    async def react(self, message_id: str, emoji: str) -> list[Reaction]:
        """Add a reaction (adding the same one twice is a no-op, so this is safe to retry)."""
        found = await self.request("POST", f"/messages/{message_id}/reactions", json={"emoji": emoji}, safe=True)
        return [Reaction.from_wire(r) for r in found]

    async def unreact(self, message_id: str, emoji: str) -> list[Reaction]:
        found = await self.request("DELETE", f"/messages/{message_id}/reactions/{quote(emoji, safe='')}")
        return [Reaction.from_wire(r) for r in found]

    async def history(
        self, channel_id: str, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> list[Message]:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if after is not None:
            params["after"] = after
        found = await self.request("GET", f"/channels/{channel_id}/messages", params=params)
        return [Message.from_wire(m) for m in found]

    async def replies(self, message_id: str, *, after: int | None = None, limit: int = 50) -> list[Message]:
        params: dict[str, Any] = {"limit": limit} if after is None else {"limit": limit, "after": after}
        return [
            Message.from_wire(m) for m in await self.request("GET", f"/messages/{message_id}/replies", params=params)
        ]

    async def sync_page(self, cursor: str) -> dict[str, Any]:
        """One page of a gap `sync` did not recover: `cursor` is the path the server gave."""
        page: dict[str, Any] = await self.request("GET", cursor)
        return page

    async def create_api_key(self, name: str) -> dict[str, Any]:
        """A new key for the signed-in user (needs a user token): the answer holds the key, shown this once."""
        created: dict[str, Any] = await self.request("POST", "/api-keys", json={"name": name})
        return created

    async def revoke_api_key(self, key_id: str) -> dict[str, Any]:
        revoked: dict[str, Any] = await self.request("DELETE", f"/api-keys/{key_id}")
        return revoked
