"""Whole collections as stored documents, for the full backup (connectnow/services/calendar/exports.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from connectnow.store.port import Document, DocumentStore


def every_document(store: DocumentStore, collection: str, *, batch_size: int) -> AsyncIterator[Document]:
    """Every document of `collection` in id order, in bounded-memory batches."""
    return store.collection(collection).iterate({}, sort=[("id", 1)], batch_size=batch_size)
