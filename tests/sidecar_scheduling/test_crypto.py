"""The AES-GCM key ring: round trips, rotation, tampering, binding to the record, key configuration."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectnow.crypto import (
    DEV_KEY_ID,
    Aad,
    DecryptionError,
    KeyConfigError,
    KeyRing,
    keyring_from_settings,
    parse_keys,
)
from tests.conftest import make_settings

AAD = Aad("form_responses", "abc123", "encryptedData")


def key() -> bytes:
    return os.urandom(32)


def test_round_trip_and_random_nonce() -> None:
    ring = KeyRing({"k1": key()}, "k1")
    one, two = ring.encrypt_json({"a": "secret"}, AAD), ring.encrypt_json({"a": "secret"}, AAD)
    assert one != two  # a fresh nonce every time
    assert "secret" not in one
    assert ring.decrypt_json(one, AAD) == {"a": "secret"}
    assert ring.key_id_of(one) == "k1"


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old, new = key(), key()
    before = KeyRing({"old": old}, "old")
    sealed_old = before.encrypt(b"intake", AAD)
    after = KeyRing({"old": old, "new": new}, "new")
    assert after.decrypt(sealed_old, AAD) == b"intake"
    assert after.needs_rotation(sealed_old)
    moved = after.reencrypt(sealed_old, AAD)
    assert after.key_id_of(moved) == "new" and not after.needs_rotation(moved)
    # Once rotated, the old key alone cannot read it, and the old ciphertext fails without the old key.
    with pytest.raises(DecryptionError):
        KeyRing({"old": old}, "old").decrypt(moved, AAD)
    with pytest.raises(DecryptionError, match="unknown key"):
        KeyRing({"new": new}, "new").decrypt(sealed_old, AAD)


@pytest.mark.parametrize("position", [8, 20, -1])
def test_tampered_ciphertext_fails_never_returns_garbage(position: int) -> None:
    ring = KeyRing({"k1": key()}, "k1")
    token = ring.encrypt(b"a confidential answer", AAD)
    prefix, body = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position] ^= 0x01
    forged = f"{prefix}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(DecryptionError):
        ring.decrypt(forged, AAD)


@pytest.mark.parametrize("token", ["", "plain text", "v1:k1:", "v1:k1:!!!", "v2:k1:AAAA", "v1:k1:AAAA"])
def test_malformed_values_are_refused(token: str) -> None:
    ring = KeyRing({"k1": key()}, "k1")
    with pytest.raises(DecryptionError):
        ring.decrypt(token, AAD)


def test_ciphertext_is_bound_to_its_record_and_field() -> None:
    ring = KeyRing({"k1": key()}, "k1")
    token = ring.encrypt(b"x", AAD)
    for other in (
        Aad("form_responses", "other-id", "encryptedData"),
        Aad("form_responses", "abc123", "redactedData"),
        Aad("context_summaries", "abc123", "encryptedData"),
    ):
        with pytest.raises(DecryptionError):
            ring.decrypt(token, other)


def test_parse_keys_accepts_standard_and_urlsafe_base64() -> None:
    raw = key()
    spec = f"a:{base64.b64encode(raw).decode()}, b:{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"
    assert parse_keys(spec) == {"a": raw, "b": raw}


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nokeyid",
        "bad id:AAAA",
        f"k:{base64.b64encode(b'short').decode()}",
        "k:not base64!!",
        "k:" + "A" * 44 + ",k:" + "A" * 44,
    ],
)
def test_parse_keys_refuses_bad_configuration(spec: str) -> None:
    with pytest.raises(KeyConfigError):
        parse_keys(spec)


def test_unknown_active_key_is_refused() -> None:
    with pytest.raises(KeyConfigError):
        KeyRing({"k1": key()}, "k2")


def test_development_derives_a_stable_key_from_the_secret(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secret_key="s" * 32)
    one, two = keyring_from_settings(settings), keyring_from_settings(settings)
    assert one.active_id == DEV_KEY_ID
    assert two.decrypt(one.encrypt(b"v", AAD), AAD) == b"v"
    other = keyring_from_settings(make_settings(tmp_path, secret_key="t" * 32))
    with pytest.raises(DecryptionError):
        other.decrypt(one.encrypt(b"v", AAD), AAD)


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CONNECTNOW_ENCRYPTION_KEYS"):
        make_settings(tmp_path, env="production", secret_key="x" * 32)
    with pytest.raises(ValidationError, match="32 bytes"):
        make_settings(tmp_path, env="production", secret_key="x" * 32, encryption_keys="main:AAAA")
    good = base64.b64encode(key()).decode()
    settings = make_settings(
        tmp_path,
        env="production",
        secret_key="x" * 32,
        encryption_keys=f"old:{good},new:{good}",
        encryption_active_key="new",
    )
    assert keyring_from_settings(settings).active_id == "new"
