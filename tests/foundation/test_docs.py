"""Documentation stays true: every setting and every error code is documented."""

from __future__ import annotations

from pathlib import Path

from connectnow.config import Settings
from connectnow.errors import catalogue_markdown

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
