"""A real ConnectNow server: `connectnow serve` in a subprocess on a free port, stopped after the test.

Most modules share one server: `server = shared_server("name", **settings)` at module level makes a
module-scoped `server` fixture, and `http = server_http()` an httpx client on it for each test. Start a server
of a test's own (`with running(tmp_path / "s") as live:`) only when the test restarts, kills or reconfigures it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.forkserver import Process, run_connectnow, spawn_connectnow
from tests.support.redis_server import env_without_connectnow, free_port

START_TIMEOUT_SECS = 30.0
# free_port() releases the port before the server binds it: another process (an xdist worker's server, an
# outgoing connection) may take it meanwhile. Such a start is retried on a fresh port, not failed.
START_ATTEMPTS = 3
TEST_AUTH_LIMITS = {"CONNECTNOW_RATE_AUTH_ADDRESS_BURST": "100000", "CONNECTNOW_RATE_AUTH_ADDRESS_PER_SECOND": "1000"}


@dataclass
class LiveServer:
    base_url: str
    port: int
    env: dict[str, str]
    process: Process
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, data_dir: Path, **settings: str) -> LiveServer:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return cls._start_once(data_dir, **settings)
            except PortTaken:
                if attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _start_once(cls, data_dir: Path, **settings: str) -> LiveServer:
        port = free_port()
        env = env_without_connectnow()
        env.update(
            {
                "CONNECTNOW_ENV": "development",
                "CONNECTNOW_DATA_DIR": str(data_dir),
                "CONNECTNOW_LOG_LEVEL": "warning",
                # The OWASP minimum stays in force: tests never weaken password hashing.
                # Test clients all sign in from 127.0.0.1: the per-address sign-in limit would meter the whole
                # module as one client. Tests of that limit set it themselves.
                **TEST_AUTH_LIMITS,
                # Scenarios open DMs between fresh users; the shared-workspace rule (on in production) is
                # tested where it is the subject (tests/e2e/test_direct_gate_e2e.py passes "true").
                "CONNECTNOW_DM_REQUIRE_SHARED_WORKSPACE": "false",
            }
        )
        env.update({f"CONNECTNOW_{k.upper()}": v for k, v in settings.items()})
        log_path = data_dir / f"server-{port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        process = _spawn(port, env, log_path)
        server = cls(base_url=f"http://127.0.0.1:{port}", port=port, env=env, process=process, log_path=log_path)
        server.wait_ready()
        return server

    def restart(self) -> None:
        """Stop the server and start it again on the same port and data folder (clients see a restart)."""
        self.stop()
        self.process = _spawn(self.port, self.env, self.log_path, append=True)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for /readyz; a server that does not get ready is stopped before the error is raised, so no
        fixture leaves it running (its Popen would otherwise warn "still running" in whichever test collects
        it, and warnings are errors)."""
        try:
            self._poll_ready()
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _poll_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log()
                if "address already in use" in log.lower():
                    raise PortTaken(f"port {self.port} was taken before the server bound it:\n{log}")
                raise RuntimeError(f"server exited at start:\n{log}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready within {START_TIMEOUT_SECS}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a `connectnow` command against this server's configuration."""
        return run_connectnow(list(args), self.env, stdin=stdin)

    def create_admin(self, username: str, password: str) -> None:
        """A server administrator, made with the CLI as an operator would."""
        made = self.cli("create-admin", "--email", f"{username}@example.com", "--username", username,
                        "--password-stdin", stdin=password)  # fmt: skip
        assert made.returncode == 0, made.stderr

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class PortTaken(RuntimeError):
    """The free port found for a server was bound by someone else first."""


@contextmanager
def running(data_dir: Path, **settings: str) -> Iterator[LiveServer]:
    """A server of the caller's own for the `with` block, stopped however the block ends."""
    live = LiveServer.start(data_dir, **settings)
    try:
        yield live
    finally:
        live.stop()


def shared_server(name: str, **settings: str) -> Callable[..., Any]:
    """A module-scoped fixture: one server (`CONNECTNOW_<SETTING>` from `settings`) for the module's tests.

    Assign it to the fixture's name at module level: `server = shared_server("fanout", max_pending_packets="200")`.
    Tests sharing it must not depend on an empty server: unique names (tests/support/clients.py) keep them apart.
    """

    @pytest.fixture(scope="module")
    def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
        with running(tmp_path_factory.mktemp(name), **settings) as live:
            yield live

    return shared


def server_http(path: str = "", *, server: str = "server", timeout: float = 15.0) -> Callable[..., Any]:
    """A per-test fixture: an httpx client whose base URL is the fixture `server`'s URL plus `path`."""

    @pytest.fixture
    async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
        live: LiveServer = request.getfixturevalue(server)
        async with httpx.AsyncClient(base_url=live.base_url + path, timeout=timeout) as http:
            yield http

    return client


def _spawn(port: int, env: dict[str, str], log_path: Path, *, append: bool = False) -> Process:
    return spawn_connectnow(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log_path, append=append)
