"""`connectnow contacts ...`: import and export a user's address book from the command line.

`connectnow contacts import FILE --user USERNAME` reads a CSV file (columns name, phoneNumber, email, notes),
shows a progress bar, prints a summary and every refused row with its reason, and can write the full
per-row report as JSON (`--report`). It uses the same rules as the REST import (docs/SIDECAR-BROADCASTS.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from models.contacts import DuplicatePolicy, ImportReport

if TYPE_CHECKING:
    from connectnow.config import Settings
    from connectnow.identity import Principal
    from connectnow.services.contacts import ContactService
    from connectnow.store.port import DocumentStore

contacts_cli = typer.Typer(help="Broadcasts sidecar: import and export contacts.", no_args_is_help=True)


async def _principal_and_service(
    store: DocumentStore, settings: Settings, username: str
) -> tuple[Principal, ContactService]:
    from connectnow.identity import Principal
    from connectnow.repositories.accounts import UserRepository
    from connectnow.services.contacts import ContactService

    user = await UserRepository(store).by_username(username)
    if user is None:
        typer.echo(f"error: no user named {username!r}", err=True)
        raise typer.Exit(1)
    return Principal(user=user), ContactService(store, settings)


def _count_rows(text: str) -> int:
    from connectnow.services.broadcasts.contacts_csv import parse_csv

    _, rows = parse_csv(text)
    return sum(1 for row in rows if any(cell.strip() for cell in row))


@contacts_cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file")],
    user: Annotated[str, typer.Option("--user", help="Username whose address book receives the contacts")],
    on_duplicate: Annotated[DuplicatePolicy, typer.Option(help="refuse or merge duplicates")] = DuplicatePolicy.REFUSE,
    report: Annotated[Path | None, typer.Option(help="Write the per-row report here (JSON)")] = None,
) -> None:
    """Import contacts from a CSV file, with a progress bar and a report per row."""
    from rich.progress import Progress

    from connectnow.cli import _settings
    from connectnow.errors import AppError
    from connectnow.services.broadcasts.contacts_csv import decode_csv, import_contacts
    from connectnow.store import open_store

    settings = _settings()
    try:
        text = decode_csv(file.read_bytes())
        total = _count_rows(text)
    except AppError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None

    async def run() -> ImportReport:
        store = await open_store(settings)
        try:
            principal, service = await _principal_and_service(store, settings, user)
            with Progress(transient=False) as progress:
                task = progress.add_task(f"Importing {file.name}", total=total)
                return await import_contacts(
                    service,
                    principal,
                    text,
                    on_duplicate,
                    max_rows=settings.broadcast_import_max_rows,
                    progress=lambda n: progress.advance(task, n),
                )
        finally:
            await store.close()

    try:
        result = asyncio.run(run())
    except AppError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created: {result.created}  merged: {result.merged}  refused: {result.refused}")
    for row in result.rows:
        if row.outcome == "refused":
            typer.echo(f"  row {row.row}: {row.code}: {row.reason}")
    if report is not None:
        report.write_text(result.model_dump_json(by_alias=True, indent=2))


@contacts_cli.command("export")
def export_file(
    user: Annotated[str, typer.Option("--user", help="Username whose address book is exported")],
    output: Annotated[Path, typer.Option(help="CSV file to write")],
) -> None:
    """Export a user's contacts as CSV."""
    from connectnow.cli import _settings
    from connectnow.services.broadcasts.contacts_csv import export_contacts
    from connectnow.store import open_store

    settings = _settings()

    async def run() -> int:
        store = await open_store(settings)
        lines = 0
        try:
            principal, service = await _principal_and_service(store, settings, user)
            with output.open("w", encoding="utf-8", newline="") as out:
                async for line in export_contacts(service, principal):
                    out.write(line)
                    lines += 1
        finally:
            await store.close()
        return lines - 1

    typer.echo(f"exported {asyncio.run(run())} contacts to {output}")
