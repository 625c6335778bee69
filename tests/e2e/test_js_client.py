"""The JavaScript client library's own tests (clients/js/spec, Node's test runner) run as part of the suite.

They start their own live server (this interpreter, `python -m connectnow serve`) on a free port, and cover
sign-in, typed errors, connect refusals, the stream rule (a hole is synced) and a reconnect after the access
token expired with messages missed meanwhile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.node import ensure_node_packages, run

pytestmark = pytest.mark.e2e
CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"
NODE_TESTS_TIMEOUT_SECS = 240


@pytest.mark.timeout(NODE_TESTS_TIMEOUT_SECS + 330)
@pytest.mark.slow
async def test_javascript_client_library() -> None:
    node = ensure_node_packages(CLIENT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTNOW_")}
    env["CONNECTNOW_PYTHON"] = sys.executable
    code, out, err = await run(
        [node, "--test", "--test-concurrency=1", "--test-reporter=spec", "spec/"],
        cwd=CLIENT,
        env=env,
        timeout=NODE_TESTS_TIMEOUT_SECS,
    )
    assert code == 0, f"node --test failed:\n{out}\n{err}"
    assert "# fail 0" in out or "fail 0" in out, out
