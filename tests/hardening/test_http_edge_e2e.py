"""Issue 14: the HTTP edge on a real server. X-Forwarded-For is believed from trusted proxies only, right-most
untrusted hop first; /metrics needs its token or an allowed network (not "any loopback peer"); every response
carries the security headers; /docs and the dashboard load nothing from other hosts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import PASSWORD, bearer, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e

TOKEN = "metrics-secret-for-tests"


server = shared_server(
    "edge", trusted_proxies="127.0.0.1,10.9.0.0/16", metrics_token=TOKEN, metrics_allowed_networks="192.0.2.0/24"
)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=15) as client:
        yield client


def test_metrics_need_the_token_or_an_allowed_network(http: httpx.Client) -> None:
    assert http.get("/metrics").status_code == 403  # a loopback peer alone is not enough
    assert http.get("/metrics", headers=bearer("wrong")).status_code == 403
    assert http.get("/metrics", headers=bearer(TOKEN)).status_code == 200
    assert http.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
    # The client wrote 192.0.2.7; the trusted proxy saw 203.0.113.5: the right-most untrusted hop counts.
    assert http.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7, 203.0.113.5"}).status_code == 403
    # A chain of trusted proxies is walked through (10.9.0.0/16 is trusted) to the client before them.
    assert http.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7, 10.9.3.4"}).status_code == 200


def test_sessions_record_the_right_most_untrusted_hop(http: httpx.Client) -> None:
    name = unique_name("edge")
    body = {"email": f"{name}@example.com", "username": name, "displayName": name, "password": PASSWORD}
    assert http.post("/api/v1/auth/register", json=body).status_code == 201
    signed = http.post(
        "/api/v1/auth/login",
        json={"login": name, "password": PASSWORD},
        headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.20, 10.9.0.1"},
    )
    assert signed.status_code == 200, signed.text
    sessions = http.get("/api/v1/auth/sessions", headers=bearer(signed.json()["accessToken"])).json()
    current = next(s for s in sessions if s["current"])
    assert current["ipAddress"] == "198.51.100.20"


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/api/v1/auth/sessions",
        "/api/v1/no-such-thing",
        "/openapi.json",
        "/socket.io/?EIO=4&transport=polling",
    ],
)
def test_every_response_carries_the_security_headers(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_dashboard_csp_allows_websockets_to_this_origin_only(http: httpx.Client) -> None:
    csp = http.get("/dashboard").headers["content-security-policy"]
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src")).split()[1:]
    assert connect == ["'self'"]


def test_docs_load_swagger_ui_from_this_server(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    for source in sources:
        asset = http.get(source)
        assert asset.status_code == 200 and len(asset.content) > 100, source
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in next(d for d in csp.split(";") if "script-src" in d)
    assert "sha256-" in csp
    assert http.get("/redoc").status_code == 404
    assert http.get("/docs/assets/../../config.py").status_code == 404


def test_proxy_headers_from_an_untrusted_peer_are_ignored(tmp_path: Path) -> None:
    live = LiveServer.start(tmp_path / "noproxy", metrics_allowed_networks="192.0.2.0/24")
    try:
        with httpx.Client(base_url=live.base_url) as client:
            assert client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 403
    finally:
        live.stop()
