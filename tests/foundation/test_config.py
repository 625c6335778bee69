"""Settings: defaults, refusals outside development, storage selection."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectnow.config import Settings, StorageKind

# Production also needs encryption keys (see docs/SIDECAR-SCHEDULING.md); give a valid one so each test
# sees only the refusal it is about.
PRODUCTION_KEYS = "main:" + base64.b64encode(b"k" * 32).decode()


def settings(**values: object) -> Settings:
    if values.get("env") == "production":
        values.setdefault("encryption_keys", PRODUCTION_KEYS)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_refuses_the_default_secret_and_names_the_setting() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(env="production")
    assert "CONNECTNOW_SECRET_KEY" in str(caught.value)


def test_production_with_a_real_secret_starts() -> None:
    assert not settings(env="production", secret_key="x" * 40).is_development


def test_development_allows_the_default_secret() -> None:
    assert settings(env="development").is_development


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError):
        settings(env="production", secret_key="short")


def test_storage_selection(tmp_path: Path) -> None:
    embedded = settings(env="development", data_dir=tmp_path)
    assert embedded.storage_kind is StorageKind.SQLITE and embedded.sqlite_path == tmp_path / "connectnow.db"
    explicit = settings(env="development", database_url=f"sqlite:///{tmp_path}/x.db")
    assert explicit.sqlite_path == tmp_path / "x.db"
    mongo = settings(env="development", database_url="mongodb://db:27017/chat")
    assert mongo.storage_kind is StorageKind.MONGODB
    with pytest.raises(ValidationError):
        settings(env="development", database_url="postgres://nope")


def test_several_workers_need_redis() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(env="development", workers=2)
    assert "CONNECTNOW_REDIS_URL" in str(caught.value)
    assert settings(env="development", workers=2, redis_url="redis://localhost:6379/0").workers == 2


def test_argon2_cost_cannot_go_below_owasp_minimum() -> None:
    with pytest.raises(ValidationError):
        settings(env="development", argon2_memory_kib=1024)
    with pytest.raises(ValidationError):
        settings(env="development", argon2_time_cost=1)


def test_origins_from_comma_separated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTNOW_ALLOWED_ORIGINS", "https://chat.example.com, https://app.example.com")
    monkeypatch.setenv("CONNECTNOW_ENV", "development")
    loaded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert loaded.allowed_origins == ["https://chat.example.com", "https://app.example.com"]


def test_every_missing_production_secret_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, env="production")  # type: ignore[call-arg]
    message = str(caught.value)
    assert "CONNECTNOW_SECRET_KEY" in message and "CONNECTNOW_ENCRYPTION_KEYS" in message
