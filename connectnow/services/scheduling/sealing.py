"""Encrypted fields of the scheduling sidecar: where they live, how they open, and key rotation.

`ENCRYPTED_FIELDS` is the one list of (collection, field) pairs holding ciphertext; the re-encryption
command and the no-plaintext tests both walk it.
"""

from __future__ import annotations

import logging
from typing import Any

from connectnow import errors
from connectnow.crypto import Aad, DecryptionError, KeyRing
from connectnow.errors import AppError
from connectnow.repositories.sealed import replace_sealed, sealed_values
from connectnow.store.port import DocumentStore

log = logging.getLogger("connectnow.scheduling.crypto")

ENCRYPTED_FIELDS: tuple[tuple[str, str], ...] = (
    ("bookings", "encryptedIntakeData"),
    ("form_responses", "encryptedData"),
    ("context_summaries", "encryptedSummary"),
    ("calendar_connections", "accessToken"),
    ("calendar_connections", "refreshToken"),
    ("system_settings", "encryptedValue"),
)


def seal(ring: KeyRing, value: Any, collection: str, record_id: str, field: str) -> str:
    return ring.encrypt_json(value, Aad(collection, record_id, field))


def unseal(ring: KeyRing, token: str, collection: str, record_id: str, field: str) -> Any:
    """Decrypt or refuse: a tampered or moved value raises DECRYPTION_FAILED, never returns garbage."""
    try:
        return ring.decrypt_json(token, Aad(collection, record_id, field))
    except DecryptionError as exc:
        log.error("decryption failed for %s/%s/%s: %s", collection, record_id, field, exc)
        raise AppError(errors.DECRYPTION_FAILED, details={"resource": collection, "id": record_id}) from exc


async def reencrypt_all(store: DocumentStore, ring: KeyRing) -> dict[str, int]:
    """Seal every value not sealed by the active key again with it. Returns counts per collection.field.

    Each rewrite is conditional on the old ciphertext, so a value changed meanwhile is left to its writer.
    A value that fails to decrypt is counted under `failed` and left untouched.
    """
    counts: dict[str, int] = {"failed": 0}
    for collection, field in ENCRYPTED_FIELDS:
        stale: list[tuple[str, str]] = []
        async for record_id, token in sealed_values(store, collection, field):
            try:
                if ring.needs_rotation(token):
                    stale.append((record_id, token))
            except DecryptionError:
                counts["failed"] += 1
        done = 0
        for record_id, token in stale:
            try:
                fresh = ring.reencrypt(token, Aad(collection, record_id, field))
            except DecryptionError:
                counts["failed"] += 1
                continue
            if await replace_sealed(store, collection, record_id, field, token, fresh):
                done += 1
        counts[f"{collection}.{field}"] = done
    return counts
