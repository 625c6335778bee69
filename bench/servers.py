"""Start and stop the servers under test as subprocesses, and read their CPU time and memory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]

READY_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parent.parent
BENCH_RATE_BURST = "1000000"  # the send rate limit would refuse a benchmark's load: raised, documented


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    protocol: str  # "raw" or "sio": how clients speak to it
    send_kind: str  # "raw", "bare" or "connectnow"
    profiled: bool = False

    @property
    def url(self) -> str:
        path = "/" if self.protocol == "raw" else "/socket.io/?EIO=4&transport=websocket"
        return f"ws://127.0.0.1:{self.port}{path}"

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            # uvicorn re-raises the signal after its shutdown: SIGINT lets pyinstrument write its report first
            os.killpg(self.process.pid, signal.SIGINT if self.profiled else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _spawn(cmd: list[str], env: dict[str, str] | None, log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)


def _wait_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited at start:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not listening on {port} within {READY_TIMEOUT_S}s")


def start_raw(workdir: Path) -> Server:
    port = free_port()
    log = workdir / "raw_ws.log"
    proc = _spawn([sys.executable, "-m", "bench.baselines.raw_ws", str(port)], None, log)
    _wait_port(proc, port, log)
    return Server("raw-ws", port, proc, "raw", "raw")


def start_bare_sio(workdir: Path) -> Server:
    port = free_port()
    log = workdir / "bare_sio.log"
    proc = _spawn([sys.executable, "-m", "bench.baselines.bare_sio", str(port)], None, log)
    _wait_port(proc, port, log)
    return Server("bare-socketio", port, proc, "sio", "bare")


def install_node_socketio(workdir: Path) -> Path | None:
    """`npm install socket.io@4` into a temporary directory; None when node or npm is missing or it fails."""
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    target = Path(tempfile.mkdtemp(prefix="cn-bench-node-", dir=workdir))
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "socket.io@4"],
        cwd=target, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    return target / "node_modules"


def start_node_sio(workdir: Path, node_modules: Path) -> Server:
    port = free_port()
    log = workdir / "node_sio.log"
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    script = ROOT / "bench" / "baselines" / "node_sio.js"
    proc = _spawn(["node", str(script), str(port)], env, log)
    _wait_port(proc, port, log)
    return Server("node-socketio", port, proc, "sio", "bare")


def connectnow_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTNOW_")}
    env.update(
        {
            "CONNECTNOW_ENV": "development",
            "CONNECTNOW_DATA_DIR": str(data_dir),
            "CONNECTNOW_LOG_LEVEL": "warning",
            "CONNECTNOW_ACCESS_TOKEN_TTL_SECONDS": str(24 * 3600),
            "CONNECTNOW_RATE_SEND_BURST": BENCH_RATE_BURST,
            "CONNECTNOW_RATE_SEND_PER_SECOND": BENCH_RATE_BURST,
            # A presence heartbeat per connection would be background load unrelated to the message path.
            "CONNECTNOW_PRESENCE_HEARTBEAT_SECONDS": "60",
            "CONNECTNOW_PRESENCE_TTL_SECONDS": "180",
        }
    )
    env.update({f"CONNECTNOW_{k.upper()}": v for k, v in extra.items()})
    return env


def start_connectnow(
    workdir: Path,
    data_dir: Path,
    name: str = "connectnow",
    profile_to: Path | None = None,
    tree: Path | None = None,
    **extra: str,
) -> Server:
    """`connectnow serve`; with `profile_to`, under pyinstrument, which writes its report there on shutdown;
    with `tree`, the ConnectNow of another checkout (an older commit: before/after ratios in one run)."""
    port = free_port()
    log = workdir / f"{name}.log"
    env = connectnow_env(data_dir, **extra)
    prefix = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(profile_to)] if profile_to else []
    serve = ["-m", "connectnow", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd = [*prefix, *serve] if prefix else [sys.executable, *serve]
    proc = _spawn(cmd, env, log, cwd=tree or ROOT)
    _wait_port(proc, port, log)
    time.sleep(0.5 if extra.get("workers", "1") == "1" else 3.0)  # every worker past its lifespan start
    return Server(name, port, proc, "sio", "connectnow", profiled=profile_to is not None)
