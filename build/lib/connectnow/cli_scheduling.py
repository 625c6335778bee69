"""`connectnow scheduling ...`: key rotation for the scheduling sidecar's encrypted fields.

Rotation procedure (docs/SIDECAR-SCHEDULING.md): add a new key to CONNECTNOW_ENCRYPTION_KEYS, make it
CONNECTNOW_ENCRYPTION_ACTIVE_KEY, restart, run `connectnow scheduling reencrypt`, and remove the old key
only once the command reports no value left under it.
"""

from __future__ import annotations

import asyncio

import typer

scheduling_cli = typer.Typer(help="Scheduling sidecar: encryption keys.", no_args_is_help=True)


@scheduling_cli.command("reencrypt")
def reencrypt() -> None:
    """Re-seal every encrypted scheduling value with the active key (old keys must still be configured)."""
    from connectnow.cli import _settings
    from connectnow.crypto import KeyConfigError, keyring_from_settings
    from connectnow.services.scheduling.sealing import reencrypt_all
    from connectnow.store import open_store

    settings = _settings()
    try:
        ring = keyring_from_settings(settings)
    except KeyConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> dict[str, int]:
        store = await open_store(settings)
        try:
            return await reencrypt_all(store, ring)
        finally:
            await store.close()

    counts = asyncio.run(run())
    typer.echo(f"active key: {ring.active_id}")
    for name, count in counts.items():
        if name != "failed":
            typer.echo(f"re-encrypted {name}: {count}")
    if counts["failed"]:
        typer.echo(f"error: {counts['failed']} value(s) failed to decrypt and were left as they are", err=True)
        raise typer.Exit(1)


@scheduling_cli.command("generate-key")
def generate_key() -> None:
    """Print a new random 32-byte key, base64 encoded, for CONNECTNOW_ENCRYPTION_KEYS."""
    from connectnow.crypto import generate_key as make

    typer.echo(make())
