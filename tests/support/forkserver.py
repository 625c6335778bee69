"""`connectnow` commands forked from a process that has already imported them.

A full run starts over a hundred `connectnow serve` processes and dozens of CLI commands. Each spent about
2.4 s of CPU importing `connectnow.app`, uvicorn and their dependencies before doing anything, about a quarter
of the suite's CPU on a 2-core machine. The fork server (one per test worker, started on first use) imports
them once and forks each command from there: the child takes its own session, environment, working folder and
standard streams, then runs `python -m connectnow ARGS` as the interpreter would (`runpy`, `sys.argv`, exit
status from `SystemExit`, normal interpreter shutdown).

The test side gets a `ForkedProcess` that answers like `subprocess.Popen` (`pid`, `poll`, `wait`, `kill`,
`send_signal`, `returncode`). It falls back to a real `subprocess` when the command would not run the same
forked: another interpreter, another working folder, or an environment that differs from the fork server's
in anything but `CONNECTNOW_*` settings (settings are read when the command starts, never at import).
`CONNECTNOW_TEST_NO_FORKSERVER=1` turns it off.

Protocol, one JSON object per line on the fork server's stdin and stdout:
`{"op": "spawn", "args": [...], "env": {...}, "cwd": ..., "stdin": path|null, "stdout": path,
"stdoutMode": "w"|"a", "stderr": path|null}` answers `{"pid": N}`; `{"op": "status", "pid": N}` answers
`{"code": null}` while the child runs and its exit code (negative for a signal, as Popen) once it has ended.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Protocol

from tests.support.redis_server import env_without_connectnow

# What `connectnow serve` and the CLI import before doing any work (uvicorn's implementations are imported
# by name when the server starts, so they are listed here too).
PRELOAD = (
    "connectnow.cli",
    "connectnow.app",
    "uvicorn",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "uvicorn.lifespan.on",
    "uvloop",
)

# --- the fork server (python -m tests.support.forkserver) -------------------------------------------------------


def serve() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    _warm_up()
    # The children's collector leaves what was imported here alone, so they do not copy its pages.
    gc.collect()
    gc.freeze()
    home = os.getpid()
    exits: dict[int, int] = {}
    _send({"ready": True, "pid": home})
    for line in _lines(0):
        request = json.loads(line)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _run_child(request)  # never returns: the interpreter exits with the command's status
            _send({"pid": pid})
        elif request["op"] == "status":
            _send({"code": _status(request["pid"], exits)})
        else:
            _send({"error": f"unknown op {request['op']!r}"})


def _warm_up() -> None:
    """Build one app and drop it: FastAPI keeps what it derives from the module-level routers (dependants,
    parameter models), which each child would otherwise derive again, ~0.4 s of CPU per server. What the
    app set up for logging is undone, so each command configures its own."""
    import logging
    import tempfile

    from connectnow.app import create_app
    from connectnow.config import Settings

    with tempfile.TemporaryDirectory(prefix="cn-forkserver-") as folder:
        create_app(Settings(_env_file=None, env="development", data_dir=folder))  # type: ignore[call-arg]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def _status(pid: int, exits: dict[int, int]) -> int | None:
    if pid not in exits:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return exits.get(pid)
        if done == 0:
            return None
        exits[pid] = os.waitstatus_to_exitcode(status)
    return exits[pid]


def _run_child(request: dict[str, Any]) -> None:
    """Become `python -m connectnow ARGS`: the fork server's own streams are replaced by the caller's files,
    its signal handlers by the defaults. An uncaught exception or `SystemExit` ends the interpreter exactly as
    in a fresh one (traceback on stderr, status 1, atexit handlers run)."""
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    stdin = os.open(request.get("stdin") or os.devnull, os.O_RDONLY)
    write = os.O_WRONLY | os.O_CREAT
    stdout = os.open(request["stdout"], write | (os.O_APPEND if request.get("stdoutMode") == "a" else os.O_TRUNC))
    stderr = os.open(request["stderr"], write | os.O_TRUNC) if request.get("stderr") else stdout
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    for fd in {stdin, stdout, stderr}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["connectnow", *request["args"]]
    runpy.run_module("connectnow", run_name="__main__", alter_sys=True)
    sys.exit(0)


def _send(message: dict[str, Any]) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")


def _lines(fd: int) -> Any:
    buffered = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        yield from lines


# --- the test side -------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
POLL_SECS = 0.02


class ForkServer:
    """One fork server for this test process, started on first use and stopped when the process exits."""

    _instance: ClassVar[ForkServer | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.env = env_without_connectnow()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.forkserver"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.lock = threading.Lock()
        self._comparable_env = _comparable(self.env)
        ready = self._receive()
        if not ready.get("ready"):
            raise RuntimeError(f"the fork server did not start: {ready}")
        atexit.register(self.close)

    @classmethod
    def get(cls) -> ForkServer:
        with cls._instance_lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = ForkServer()
            return cls._instance

    def can_run(self, env: dict[str, str], cwd: Path) -> bool:
        """True when a forked child would see what a fresh `python -m connectnow` would."""
        return cwd.resolve() == ROOT and _comparable(env) == self._comparable_env

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
            answer = self._receive()
        if "error" in answer:
            raise RuntimeError(f"fork server: {answer['error']}")
        return answer

    def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server exited (status {self.process.wait()}); its errors are above")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def _comparable(env: dict[str, str]) -> dict[str, str]:
    """What the environment could change in imported modules: not the settings (read when a command starts), nor
    the test pytest is in (it changes with every test)."""
    return {k: v for k, v in env_without_connectnow(env).items() if k != "PYTEST_CURRENT_TEST"}


class ForkedProcess:
    """A forked `connectnow` command, answering like `subprocess.Popen` (its parent is the fork server, which
    reaps it and reports its status)."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]) -> None:
        self.server, self.pid, self.args = server, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.request({"op": "status", "pid": self.pid})["code"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            time.sleep(POLL_SECS)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never signal a pid that was reaped and may have been reused
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Process(Protocol):
    """What tests use of a server process, whether forked or a `subprocess.Popen`."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


def _server(env: dict[str, str], cwd: Path) -> ForkServer | None:
    if os.environ.get("CONNECTNOW_TEST_NO_FORKSERVER") == "1":
        return None
    server = ForkServer.get()
    return server if server.can_run(env, cwd) else None


def spawn_connectnow(args: list[str], env: dict[str, str], log_path: Path, *, append: bool = False) -> Process:
    """`python -m connectnow ARGS` in a session of its own, stdout and stderr into `log_path`."""
    server = _server(env, ROOT)
    if server is None:
        with log_path.open("ab" if append else "wb") as log:  # the child keeps its own descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "connectnow", *args],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
            )  # fmt: skip
    request = {"op": "spawn", "args": args, "env": env, "cwd": str(ROOT), "stdin": None,
               "stdout": str(log_path), "stdoutMode": "a" if append else "w", "stderr": None}  # fmt: skip
    return ForkedProcess(server, server.request(request)["pid"], args)


def run_connectnow(
    args: list[str], env: dict[str, str], *, stdin: str | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([python, -m, connectnow, *args], input=stdin, capture_output=True, text=True)`."""
    server = _server(env, cwd)
    if server is None:
        return subprocess.run(
            [sys.executable, "-m", "connectnow", *args],
            env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cn-cli-") as folder:
        files = {name: Path(folder) / name for name in ("stdin", "stdout", "stderr")}
        files["stdin"].write_text(stdin or "")
        request = {"op": "spawn", "args": args, "env": env, "cwd": str(cwd), "stdoutMode": "w",
                   **{name: str(path) for name, path in files.items()}}  # fmt: skip
        child = ForkedProcess(server, server.request(request)["pid"], args)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
        out, err = (files[name].read_text(errors="replace") for name in ("stdout", "stderr"))
        return subprocess.CompletedProcess([sys.executable, "-m", "connectnow", *args], code, out, err)


if __name__ == "__main__":
    serve()
