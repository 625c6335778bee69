"""The event catalogue (connectnow/events.py) against the code and against docs/PROTOCOL.md, both ways."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from connectnow.events import CLIENT_EVENTS, SERVER_EVENTS
from handlers.socket import socket_router

ROOT = Path(__file__).resolve().parents[2]
# An event name: `word` or `word:word[:word]` in camelCase (rooms are built by connectnow/realtime/rooms.py
# from ids, so no room name is a constant of this shape).
EVENT_NAME = re.compile(r"^[a-z][a-zA-Z]*(?::[a-z][a-zA-Z]*)+$")
CLIENT_TABLE = "| Event | Payload"
SERVER_TABLE = "| Event | Room"


def documented() -> tuple[set[str], set[str]]:
    """The names in the first column of PROTOCOL.md's event tables: (client -> server, server -> client)."""
    client: set[str] = set()
    server: set[str] = set()
    into: set[str] | None = None
    for line in (ROOT / "docs" / "PROTOCOL.md").read_text().splitlines():
        if line.startswith(CLIENT_TABLE) or line.startswith(SERVER_TABLE):
            into = client if line.startswith(CLIENT_TABLE) else server
        elif not line.startswith("|"):
            into = None
        elif into is not None and not line.startswith("| ---"):
            into.update(re.findall(r"`([a-zA-Z]+(?::[a-zA-Z]+)*)`", line.split("|")[1]))
    return client, server


def names_in_code() -> dict[str, str]:
    """Every string constant shaped like an event name in the server's code -> one file that writes it."""
    found: dict[str, str] = {}
    for package in ("connectnow", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "events.py" and path.parent.name == "connectnow":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and EVENT_NAME.match(node.value):
                    found.setdefault(node.value, str(path.relative_to(ROOT)))
    return found


def test_the_catalogue_lists_exactly_the_events_handlers_register() -> None:
    assert set(socket_router.events) == CLIENT_EVENTS


def test_every_event_name_in_the_code_is_in_the_catalogue() -> None:
    unknown = {name: where for name, where in names_in_code().items() if name not in CLIENT_EVENTS | SERVER_EVENTS}
    assert not unknown, f"add these to connectnow/events.py and docs/PROTOCOL.md: {unknown}"


def test_every_server_event_in_the_catalogue_is_sent_somewhere() -> None:
    sent = set(names_in_code())
    assert sent >= SERVER_EVENTS, f"catalogued but never sent: {sorted(SERVER_EVENTS - sent)}"


def test_protocol_tables_document_exactly_the_catalogue() -> None:
    client, server = documented()
    assert client == CLIENT_EVENTS, (
        f"undocumented: {sorted(CLIENT_EVENTS - client)}; documented, not served: {sorted(client - CLIENT_EVENTS)}"
    )
    assert server == SERVER_EVENTS, (
        f"undocumented: {sorted(SERVER_EVENTS - server)}; documented, never sent: {sorted(server - SERVER_EVENTS)}"
    )


def test_the_client_and_server_directions_do_not_share_a_name_by_accident() -> None:
    # Signalling is relayed under its own name (`voice:offer` in, `voice:offer` out): the only overlap.
    assert {"voice:offer", "voice:answer", "voice:candidate"} == CLIENT_EVENTS & SERVER_EVENTS
