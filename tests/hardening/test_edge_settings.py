"""Issue 14: the proxy and metrics allow-lists are checked when the server starts."""

from __future__ import annotations

import pytest


def test_trusted_proxies_and_metrics_networks_are_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from connectnow.config import Settings

    monkeypatch.setenv("CONNECTNOW_ENV", "development")
    monkeypatch.setenv("CONNECTNOW_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    assert Settings(_env_file=None).proxy_networks == ["10.0.0.0/8", "::1"]  # type: ignore[call-arg]
    monkeypatch.setenv("CONNECTNOW_TRUSTED_PROXIES", "proxy.example.com")
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("CONNECTNOW_TRUSTED_PROXIES")
    monkeypatch.setenv("CONNECTNOW_TRUST_PROXY_HEADERS", "true")  # the deprecated switch: a same-host proxy
    assert Settings(_env_file=None).proxy_networks == ["127.0.0.1", "::1"]  # type: ignore[call-arg]
    monkeypatch.setenv("CONNECTNOW_METRICS_ALLOWED_NETWORKS", "everyone")
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(_env_file=None)  # type: ignore[call-arg]
