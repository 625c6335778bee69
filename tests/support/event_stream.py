"""The example clients' event-stream rule (examples/python/event_stream.py), loaded from where clients copy
it, so the end-to-end tests exercise the very code the documentation points to."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "examples" / "python" / "event_stream.py"
_spec = importlib.util.spec_from_file_location("connectnow_example_event_stream", _PATH)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

EventStream = _module.EventStream
