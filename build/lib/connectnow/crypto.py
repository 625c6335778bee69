"""Field encryption at rest: AES-256-GCM with a key ring.

A ciphertext is the text `v1:<key id>:<base64url(nonce || ciphertext+tag)>`, so each value names the key
that sealed it: a new active key encrypts, older keys still decrypt, and `connectnow scheduling reencrypt`
moves old values to the active key. Every value is bound to its place with associated data
(`collection/record id/field`): a ciphertext copied to another record or field fails to decrypt, exactly
like a tampered one. A failure never returns bytes: it raises `DecryptionError`.

Keys come from `CONNECTNOW_ENCRYPTION_KEYS` (`id:base64key,...`, 32-byte keys) and
`CONNECTNOW_ENCRYPTION_ACTIVE_KEY`. In development, without configured keys, one key is derived from
`CONNECTNOW_SECRET_KEY` with HKDF-SHA256 (key id `dev`); outside development the settings refuse to load.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce (NIST SP 800-38D); random per value
DEV_KEY_ID = "dev"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_HKDF_INFO = b"connectnow field encryption v1"


class KeyConfigError(ValueError):
    """The configured keys cannot be used (bad base64, wrong length, unknown active id)."""


class DecryptionError(Exception):
    """A value could not be decrypted: tampered, moved to another record, or sealed by an unknown key."""


@dataclass(frozen=True, slots=True)
class Aad:
    """Where a ciphertext lives; it is authenticated with the value."""

    collection: str
    record_id: str
    field: str

    def encode(self) -> bytes:
        return f"{self.collection}/{self.record_id}/{self.field}".encode()


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id1:base64,id2:base64` -> {id: key}. Refuses malformed ids, bad base64 and wrong key lengths."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise KeyConfigError("each encryption key must be written id:base64 (id: letters, digits, _ or -)")
        try:
            # Standard or URL-safe alphabet, padding optional.
            normal = encoded.strip().replace("-", "+").replace("_", "/")
            raw = base64.b64decode(normal + "=" * (-len(normal) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyConfigError(f"encryption key {key_id!r} is not valid base64") from exc
        if len(raw) != KEY_BYTES:
            raise KeyConfigError(f"encryption key {key_id!r} must decode to {KEY_BYTES} bytes, not {len(raw)}")
        if key_id in keys:
            raise KeyConfigError(f"encryption key id {key_id!r} appears twice")
        keys[key_id] = raw
    if not keys:
        raise KeyConfigError("no encryption key configured")
    return keys


def derive_dev_key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_HKDF_INFO).derive(secret)


def generate_key() -> str:
    """A new random key, base64 encoded, for CONNECTNOW_ENCRYPTION_KEYS."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class KeyRing:
    def __init__(self, keys: dict[str, bytes], active_id: str) -> None:
        if active_id not in keys:
            raise KeyConfigError(f"the active encryption key {active_id!r} is not among the configured keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_id = active_id

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def encrypt(self, plaintext: bytes, aad: Aad) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_id].encrypt(nonce, plaintext, aad.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{FORMAT_VERSION}:{self.active_id}:{body}"

    def decrypt(self, token: str, aad: Aad) -> bytes:
        key_id, raw = self._split(token)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(f"value sealed with unknown key {key_id!r}")
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
        except InvalidTag as exc:
            raise DecryptionError("value failed authentication (tampered or moved)") from exc

    def encrypt_json(self, value: Any, aad: Aad) -> str:
        return self.encrypt(orjson.dumps(value), aad)

    def decrypt_json(self, token: str, aad: Aad) -> Any:
        return orjson.loads(self.decrypt(token, aad))

    def key_id_of(self, token: str) -> str:
        return self._split(token)[0]

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.active_id

    def reencrypt(self, token: str, aad: Aad) -> str:
        return self.encrypt(self.decrypt(token, aad), aad)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        if not isinstance(token, str):
            raise DecryptionError("value is not a ciphertext")
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != FORMAT_VERSION:
            raise DecryptionError("value is not a v1 ciphertext")
        try:
            raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError("ciphertext is not valid base64") from exc
        if len(raw) < NONCE_BYTES + 16:  # nonce + GCM tag at least
            raise DecryptionError("ciphertext is truncated")
        return parts[1], raw


def keyring_from_settings(settings: Any) -> KeyRing:
    """The ring the settings describe; the dev-derived key when none is configured (development only)."""
    configured = settings.encryption_keys.get_secret_value() if settings.encryption_keys else ""
    if configured.strip():
        keys = parse_keys(configured)
        active = settings.encryption_active_key or next(iter(keys))
        return KeyRing(keys, active)
    if not settings.is_development:
        raise KeyConfigError("CONNECTNOW_ENCRYPTION_KEYS is required outside development")
    return KeyRing({DEV_KEY_ID: derive_dev_key(settings.secret_bytes)}, DEV_KEY_ID)
