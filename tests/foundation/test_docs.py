"""Documentation stays true: every setting and every error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

from connectnow.config import Settings
from connectnow.errors import catalogue, catalogue_markdown

ROOT = Path(__file__).resolve().parents[2]


def documentation() -> str:
    texts = [(ROOT / "README.md").read_text()]
    texts += [path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(texts)


def test_every_setting_is_documented() -> None:
    docs = documentation()
    names = [f"CONNECTNOW_{name.upper()}" for name in Settings.model_fields]
    missing = [name for name in names if name not in docs]
    assert missing == [], f"document these settings in README.md or docs/*.md: {missing}"


def test_error_catalogue_document_is_current() -> None:
    current = (ROOT / "docs" / "ERRORS.md").read_text()
    assert current == catalogue_markdown(), "regenerate it: python -m connectnow.errors > docs/ERRORS.md"


def test_every_code_the_server_writes_is_in_the_catalogue() -> None:
    """ERRORS.md lists every code the server can answer: codes are raised as `AppError(errors.X)`, and any
    code written out by hand (a probe's body) must be one of the catalogue's too."""
    written: set[str] = set()
    for folder in ("connectnow", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            written.update(re.findall(r'"code":\s*"([A-Z_]+)"', path.read_text()))
    assert written, "the scan found no hand-written codes: the pattern is stale"
    assert written <= set(catalogue()), f"add these codes to connectnow/errors.py: {written - set(catalogue())}"
