"""Where attachment bytes live: a small interface, so object storage (S3, GCS) can follow the local disk.

Keys are produced by the server only (`attachments/ab/<id>`), never from client input; the local
implementation still refuses anything that would leave its root.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 64 * 1024
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$")


class FileNotStored(Exception):
    """The key has no bytes (never written, or deleted)."""


class FileStorage(Protocol):
    name: str

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, all or nothing."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under `key`, in chunks; raises FileNotStored when absent."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove `key`; absent keys are fine (deletes are retried by cleanups)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file on this machine's disk, when there is one (object storage: None)."""
        ...


class LocalFileStorage:
    """Files under a root folder on the local disk (the default: `<data dir>/files`)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key {key!r} leaves the storage root")
        return path

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put_sync, self._path(key), data)

    @staticmethod
    def _put_sync(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and a crash leaves only a temp file.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with tmp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    async def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise FileNotStored(key) from exc

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise FileNotStored(key) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
