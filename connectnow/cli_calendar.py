"""`connectnow calendar ...`: admin exports with a progress bar, usage-count repair, user data deletion."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

calendar_cli = typer.Typer(help="Calendar sidecar: admin exports and maintenance.", no_args_is_help=True)


async def _with_store(work: Any) -> Any:
    from connectnow.config import Settings
    from connectnow.store import open_store

    settings = Settings()
    store = await open_store(settings)
    try:
        return await work(store, settings)
    finally:
        await store.close()


async def _admin_principal(store: Any, username: str) -> Any:
    from connectnow.identity import Principal
    from connectnow.repositories.accounts import UserRepository

    user = await UserRepository(store).by_username(username)
    if user is None or not user.is_admin:
        typer.echo(f"{username!r} is not an administrator", err=True)
        raise typer.Exit(2)
    return Principal(user=user)


@calendar_cli.command("export")
def export(
    admin: Annotated[str, typer.Option(help="Username of the administrator running the export")],
    export_type: Annotated[str, typer.Option("--type", help="events, users or full_backup (JSON)")] = "events",
    fmt: Annotated[str, typer.Option("--format", help="json, csv or ics")] = "json",
    start_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (events from this day, UTC)")] = None,
    end_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (events until this day, inclusive)")] = None,
    user_id: Annotated[list[str] | None, typer.Option(help="Only these users (repeatable)")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only these category ids (repeatable)")] = None,
    location: Annotated[list[str] | None, typer.Option(help="Only these location ids (repeatable)")] = None,
) -> None:
    """Stream an export to a file under the data folder, with a progress bar."""
    from pydantic import ValidationError

    from connectnow.services.calendar.exports import ExportService
    from models.calendar import ExportCreate

    filters: dict[str, Any] = {"userIds": user_id or [], "categories": category or [], "locations": location or []}
    for key, value in (("startDate", start_date), ("endDate", end_date)):
        if value:
            filters[key] = date.fromisoformat(value).isoformat()
    try:
        body = ExportCreate.model_validate({"exportType": export_type, "format": fmt, "filters": filters})
    except (ValidationError, ValueError) as exc:
        typer.echo(f"Invalid export request: {exc}", err=True)
        raise typer.Exit(2) from None

    async def work(store: Any, settings: Any) -> Any:
        principal = await _admin_principal(store, admin)
        service = ExportService(store, settings.data_dir / "exports")
        record = await service.create(principal, body, status="running")
        total = await service.expected_count(record)
        columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as bar:
            task = bar.add_task("export", total=total)
            return await service.run(record, progress=lambda n: bar.update(task, completed=n))

    done = asyncio.run(_with_store(work))
    if done.status != "completed":
        typer.echo(f"Export failed: {done.error_message}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{done.record_count} records, {done.file_size} bytes: {done.file_path}")


@calendar_cli.command("recount")
def recount() -> None:
    """Rebuild category and location usage counts from the events."""
    from connectnow.services.calendar.catalog import CatalogService

    async def work(store: Any, _: Any) -> dict[str, int]:
        return await CatalogService(store).recount()

    typer.echo(f"usage counts fixed: {asyncio.run(_with_store(work))['fixed']}")


@calendar_cli.command("delete-user-data")
def delete_user_data(
    user_id: Annotated[str, typer.Argument(help="The user whose calendars, events and categories go")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a user's calendars, events, personal categories and locations (seed integrity rule 2)."""
    if not yes:
        typer.confirm(f"Delete every calendar of user {user_id}?", abort=True)
    from connectnow.security import Secrets
    from connectnow.services.calendar.calendars import CalendarService

    async def work(store: Any, settings: Any) -> dict[str, int]:
        return await CalendarService(store, Secrets(settings), settings.public_url).delete_user_data(user_id)

    typer.echo(", ".join(f"{k}: {v}" for k, v in asyncio.run(_with_store(work)).items()))
