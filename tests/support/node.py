"""Running Node.js from the Python suite: the JavaScript examples, the official client and the client library's
own tests."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NPM_INSTALL_TIMEOUT_SECS = 300


async def run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{cmd} did not finish within {timeout}s") from None
    return process.returncode or 0, out.decode(), err.decode()


def ensure_node_packages(folder: Path, probe: str = "socket.io-client") -> str:
    """Install `folder`'s locked npm dependencies once (`npm ci`) and answer the node executable.

    Without node this fails with a clear message rather than skipping: the JavaScript parts are the product.
    A lock file makes parallel test workers (pytest-xdist) wait for one install instead of racing two `npm ci`
    in one folder (each deletes node_modules first).
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for the JavaScript client and examples (install Node.js 18 or newer)")
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"connectnow-npm-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "node_modules" / probe).is_dir():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=NPM_INSTALL_TIMEOUT_SECS,
                check=False,
            )
            assert done.returncode == 0, f"npm ci in {folder} failed:\n{done.stdout}\n{done.stderr}"
    return node
