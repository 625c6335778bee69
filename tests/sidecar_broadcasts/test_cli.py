"""`connectnow contacts import/export`: the real command (forked by the test fork server), on a real SQLite database."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.clients import PASSWORD
from tests.support.forkserver import run_connectnow

ROOT = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_connectnow(list(args), env, stdin=stdin, cwd=ROOT, timeout=120)


def test_import_with_progress_and_report_then_export(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTNOW_")}
    env.update({"CONNECTNOW_ENV": "development", "CONNECTNOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120"})
    env["CONNECTNOW_PHONE_DEFAULT_REGION"] = "GB"
    made = run(
        env, "create-admin", "--email", "op@example.com", "--username", "operator", "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    book = tmp_path / "book.csv"
    book.write_text("name,phone,email\nAnn,020 7946 0958,ann@example.com\nBob,+1 202 555 0143,\nBad,123,\n")
    report = tmp_path / "report.json"
    result = run(env, "contacts", "import", str(book), "--user", "operator", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "created: 2  merged: 0  refused: 1" in result.stdout
    assert "row 4: PHONE_INVALID" in result.stdout
    assert "Importing book.csv" in result.stdout  # the progress bar's label
    rows = json.loads(report.read_text())["rows"]
    assert [r["outcome"] for r in rows] == ["created", "created", "refused"]
    again = run(env, "contacts", "import", str(book), "--user", "operator", "--on-duplicate", "merge")
    assert "created: 0  merged: 2  refused: 1" in again.stdout
    out = tmp_path / "out.csv"
    exported = run(env, "contacts", "export", "--user", "operator", "--output", str(out))
    assert exported.returncode == 0 and "exported 2 contacts" in exported.stdout
    lines = out.read_text().splitlines()
    assert lines[1].startswith("Ann,+442079460958,ann@example.com,")
    unknown = run(env, "contacts", "import", str(book), "--user", "nobody")
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr
