"""Every endpoint and every event, walked with every class of hostile input (tests/contract/hostile.py).

Generic on purpose: the operations come from the server's own OpenAPI document and the events from the
Socket.IO catalogue, so a new endpoint or event is covered the day it lands. The promise tested: bad input
never answers 5xx or INTERNAL; every refusal is a documented status with a stable code from docs/ERRORS.md;
and values nothing can store (integers past 64 bits, NaN, deep nesting) are always refused.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import socketio

from connectnow.errors import catalogue
from handlers.socket import socket_router
from tests.contract.hostile import (
    DEEP,
    PARAM_CLASSES,
    VALUE_CLASSES,
    Raw,
    body_fields,
    encode,
    path_value,
)
from tests.support.clients import admin_token, bearer, openapi_document
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
CODES = catalogue()
BODY_LIMIT = 64 * 1024
# Classes no field of any body may accept: they cannot be stored by either engine.
NEVER_ACCEPTED = {"huge_int", "nan_infinity", "deep_nesting"}
NESTED = NEVER_ACCEPTED - {"deep_nesting"} | {"control_text", "operator_object"}
LARGER_LIMITS = ("/api/v1/attachments", "/api/v1/ics/import")  # uploads have their own, larger, limits


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer.start(
        tmp_path_factory.mktemp("bad-input") / "server",
        max_request_body_bytes=str(BODY_LIMIT),
        rate_send_burst="100000",
        rate_react_burst="100000",
        rate_typing_burst="100000",
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return admin_token(server, "root")


@dataclass
class Tally:
    tried: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    targets: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Probe:
    operation: str  # "GET /api/v1/..." (the documented path)
    klass: str
    method: str
    url: str
    content: str | None
    strict: bool  # must be refused
    documented: frozenset[str]
    chunked: bool = False


def probes_for(document: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> Iterator[Probe]:
    name = f"{method.upper()} {path}"
    documented = frozenset(operation.get("responses", {}))
    params = operation.get("parameters", [])
    base_path = {p["name"]: path_value(p) for p in params if p["in"] == "path"}

    def url(path_values: dict[str, str], query: str = "") -> str:
        filled = path
        for key, value in path_values.items():
            written = value if value.startswith("%") else quote(value, safe="")
            filled = filled.replace("{" + key + "}", written)
        return filled + (f"?{query}" if query else "")

    fields = body_fields(document, operation)
    base_body = "{}" if fields is not None else None
    for klass in VALUE_CLASSES:
        for param in params:
            for value in PARAM_CLASSES[klass]:
                if param["in"] == "path":
                    target = url({**base_path, param["name"]: value})
                elif param["in"] == "query":
                    written = value if value.startswith("%") else quote(value, safe="")
                    target = url(base_path, f"{param['alias'] if 'alias' in param else param['name']}={written}")
                else:
                    continue
                yield Probe(name, klass, method, target, base_body, False, documented)
        if fields is None:
            continue
        for value in VALUE_CLASSES[klass]:
            body = {name: value for name in fields} if fields else {"x": value}
            yield Probe(name, klass, method, url(base_path), encode(body), klass in NEVER_ACCEPTED, documented)
            if klass in NESTED:  # inside free-form objects (metadata, answers, filters) too
                nested = {name: {"k": [value]} for name in fields} if fields else {"x": {"k": [value]}}
                yield Probe(name, klass, method, url(base_path), encode(nested), klass in NEVER_ACCEPTED, documented)
            if isinstance(value, Raw) and klass == "deep_nesting":
                yield Probe(name, klass, method, url(base_path), value.text, True, documented)
    if fields is not None:
        yield Probe(name, "oversized_body", method, url(base_path), None, True, documented, chunked=True)


async def _oversized() -> AsyncIterator[bytes]:
    for _ in range(BODY_LIMIT // 8192 + 4):
        yield b" " * 8192


def judge(tally: Tally, probe: Probe, status: int, text: str) -> None:
    tally.tried[probe.klass] += 1
    where = f"{probe.klass}: {probe.method.upper()} {probe.url[:120]} -> {status}"
    if 200 <= status < 400:
        tally.accepted[probe.klass] += 1
        if probe.strict:
            tally.failures.append(f"{where} (accepted what cannot be stored)")
        return
    tally.refused[probe.klass] += 1
    try:
        code = json.loads(text)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        tally.failures.append(f"{where} (not the catalogue's error shape: {text[:200]!r})")
        return
    entry = CODES.get(code)
    if entry is None or code == "INTERNAL" or (status >= 500 and status != 501):
        tally.failures.append(f"{where} {code}")
    elif entry.http_status != status and code != "HTTP_ERROR":
        tally.failures.append(f"{where} {code} (the catalogue says {entry.http_status})")
    elif probe.chunked and code != "PAYLOAD_TOO_LARGE" and not probe.url.startswith(LARGER_LIMITS):
        tally.failures.append(f"{where} {code} (an over-limit chunked body answers PAYLOAD_TOO_LARGE)")
    elif str(status) not in probe.documented:
        tally.failures.append(f"{where} {code} (status not declared in the OpenAPI document)")


@pytest.mark.slow
@pytest.mark.timeout(600)  # thousands of requests: about a minute idle, minutes on a loaded runner
async def test_every_endpoint_refuses_every_class_of_bad_input(server: LiveServer, token: str) -> None:
    document = await openapi_document(server.base_url)
    probes = [
        probe
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for probe in probes_for(document, path, method, operation)
    ]
    tally = Tally()
    gate = asyncio.Semaphore(8)
    headers = {**bearer(token), "content-type": "application/json"}
    # An oversized body is answered 413 before it is read, and the connection closed: those go on their own.
    single_use = httpx.Limits(max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=headers) as http,
        httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=headers, limits=single_use) as once,
    ):

        async def send(probe: Probe) -> None:
            async with gate:
                content: Any = _oversized() if probe.chunked else probe.content
                try:
                    client = once if probe.chunked else http
                    answer = await client.request(probe.method.upper(), probe.url, content=content)
                except httpx.TransportError as exc:
                    tally.failures.append(f"{probe.klass}: {probe.method.upper()} {probe.url[:120]} -> {exc!r}")
                    return
                tally.targets.add(probe.operation)
                judge(tally, probe, answer.status_code, answer.text)

        await asyncio.gather(*(send(probe) for probe in probes))
    print(f"\nREST: {len(tally.targets)} operations, {sum(tally.tried.values())} requests, classes {dict(tally.tried)}")
    print(f"refused {dict(tally.refused)}; accepted (valid for the field) {dict(tally.accepted)}")
    assert len(tally.targets) >= 150, "the OpenAPI document lost operations"
    assert len(tally.tried) == len(VALUE_CLASSES) + 1
    assert tally.failures == [], "\n".join(tally.failures[:60]) + f"\n({len(tally.failures)} in all)"


class RawCodec:
    """The client's JSON module: writes `Raw` parts as they are (what no encoder would produce)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return encode(obj)

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return json.loads(text)


def event_fields(spec: Any) -> list[str]:
    if spec.model is None:
        return []
    return [info.alias or name for name, info in spec.model.model_fields.items()]


async def test_every_event_refuses_every_class_of_bad_input(server: LiveServer, token: str) -> None:
    events = socket_router.events
    client = socketio.AsyncClient(reconnection=False, json=RawCodec)
    tally = Tally()
    await client.connect(server.base_url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
    try:
        for name, spec in sorted(events.items()):
            fields = event_fields(spec)
            for klass, values in VALUE_CLASSES.items():
                for value in values:
                    payloads = [{f: value for f in fields} if fields else {"x": value}]
                    if klass == "deep_nesting":  # one deep field: all of them would pass the 64 KiB packet limit
                        payloads = [{(fields or ["x"])[0]: value}, value]
                    for payload in payloads:
                        answer = await client.call(name, payload, timeout=10)
                        tally.tried[klass] += 1
                        tally.targets.add(name)
                        if answer.get("ok"):
                            tally.accepted[klass] += 1
                            if klass in NEVER_ACCEPTED and spec.model is not None:
                                tally.failures.append(f"{klass}: {name} accepted")
                            continue
                        tally.refused[klass] += 1
                        code = answer["error"]["code"]
                        if code not in CODES or code == "INTERNAL":
                            tally.failures.append(f"{klass}: {name} {encode(payload)[:100]} -> {code}")
    finally:
        await client.disconnect()
    print(f"\nSocket.IO: {len(tally.targets)} events, {sum(tally.tried.values())} calls, classes {dict(tally.tried)}")
    print(f"refused {dict(tally.refused)}; accepted {dict(tally.accepted)}")
    assert tally.targets == set(events)
    assert tally.failures == [], "\n".join(tally.failures[:60]) + f"\n({len(tally.failures)} in all)"


async def test_the_refusals_found_by_probing(server: LiveServer, token: str) -> None:
    """The findings of issue 14, one by one: each answered a 5xx or a code outside the catalogue."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=bearer(token)) as http:
        nul = await http.get("/api/v1/contacts", params={"q": "a\x00b"})
        assert (nul.status_code, nul.json()["error"]["code"]) == (422, "VALIDATION_FAILED")
        unix_time = await http.get("/api/v1/direct/conversations", params={"before": "0.5"})
        assert (unix_time.status_code, unix_time.json()["error"]["code"]) == (422, "VALIDATION_FAILED")
        cursor = await http.get(f"/api/v1/channels/{'0' * 24}/messages", params={"before": str(2**64)})
        assert (cursor.status_code, cursor.json()["error"]["code"]) == (422, "VALIDATION_FAILED")
        as_json = {"content-type": "application/json"}
        deep = await http.post("/api/v1/workspaces", content="[" * DEEP + "]" * DEEP, headers=as_json)
        assert (deep.status_code, deep.json()["error"]["code"]) == (422, "VALIDATION_FAILED")
        assert "nested deeper" in deep.json()["error"]["details"]["errors"][0]["msg"]
        wrong_method = await http.put("/api/v1/workspaces")
        assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
        assert set(wrong_method.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}

        booking = {
            "userId": "0" * 24,
            "eventTypeId": 1,
            "title": "t",
            "startTime": "2031-01-01T10:00:00Z",
            "endTime": "2031-01-01T10:30:00Z",
            "timeZone": "UTC",
            "attendees": [],
        }
        for bad in ({"metadata": {"n": 2**64}}, {"intakeData": {"a": Raw('"\\ud800"')}}, {"eventTypeId": 2**70}):
            answer = await http.post(
                "/api/v1/scheduling/bookings",
                content=encode({**booking, **bad}),
                headers={"content-type": "application/json"},
            )
            assert (answer.status_code, answer.json()["error"]["code"]) == (422, "VALIDATION_FAILED"), bad
        cleared = await http.patch("/api/v1/users/me", json={"displayName": None})
        assert (cleared.status_code, cleared.json()["error"]["code"]) == (422, "VALIDATION_FAILED")
        assert (await http.get("/api/v1/users/me")).status_code == 200  # the user can still be read

        long_label = await http.put("/api/v1/broadcasts/webhook", json={"url": f"https://{'a' * 64}.example.com/"})
        # A host no DNS name can have is refused by the model itself (tests/sidecar_broadcasts/test_webhook_pinning.py).
        assert (long_label.status_code, long_label.json()["error"]["code"]) == (422, "VALIDATION_FAILED")
