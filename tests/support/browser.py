"""Launching Debian's Chromium for Playwright tests (Playwright downloads no browser of its own here)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium")
# The flags the machine notes prescribe for a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
