"""Imports point down the layers only: the contracts live in pyproject.toml ([tool.importlinter]) and
docs/ARCHITECTURE.md explains them. A broken contract prints the offending import chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_imports_point_down_the_layers() -> None:
    # In a process of its own: import-linter's CLI configures logging with dictConfig, which disables every
    # logger that exists, connectnow's included. In the test process that silenced the logs later tests on the
    # same worker read with caplog (tests/foundation/test_tasks.py failed, then hung the run's teardown).
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,  # import-linter reads pyproject.toml from the working directory
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"a layer contract is broken:\n{done.stdout}\n{done.stderr}"
