"""Imports point down the layers only: the contracts live in pyproject.toml ([tool.importlinter]) and
docs/ARCHITECTURE.md explains them. A broken contract prints the offending import chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_imports_point_down_the_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # import-linter reads pyproject.toml from the working directory
    assert lint_imports(no_cache=True, no_logo=True) == 0, "a layer contract is broken: see the report above"
