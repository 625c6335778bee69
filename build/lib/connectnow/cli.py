"""The `connectnow` command: serve, create-admin, migrate."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from connectnow.cli_calendar import calendar_cli
from connectnow.cli_contacts import contacts_cli
from connectnow.cli_scheduling import scheduling_cli
from connectnow.config import Settings

cli = typer.Typer(help="ConnectNow: a self-hostable real-time chat server.", no_args_is_help=True)
cli.add_typer(scheduling_cli, name="scheduling")  # issue 7: key rotation
cli.add_typer(contacts_cli, name="contacts")  # issue 6: CSV import and export of address books
cli.add_typer(calendar_cli, name="calendar")  # issue 8: admin exports with a progress bar, maintenance


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        typer.echo("ConnectNow cannot start, the configuration is invalid:", err=True)
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            typer.echo(f"  - {where}: {err['msg']}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (CONNECTNOW_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (CONNECTNOW_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes; >1 needs Redis (CONNECTNOW_WORKERS)")] = None,
) -> None:
    """Run the server (uvicorn, uvloop, httptools; per-message deflate off)."""
    import uvicorn

    settings = _settings(host=host, port=port, workers=workers)
    # Workers re-read settings from the environment: pass the command-line overrides along.
    os.environ["CONNECTNOW_HOST"] = settings.host
    os.environ["CONNECTNOW_PORT"] = str(settings.port)
    os.environ["CONNECTNOW_WORKERS"] = str(settings.workers)
    uvicorn.run(
        "connectnow.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level=settings.log_level.lower(),
        proxy_headers=settings.trust_proxy_headers,
    )


@cli.command()
def migrate() -> None:
    """Apply pending schema migrations and list them."""
    from connectnow.store import open_store

    async def run() -> list[str]:
        store = await open_store(_settings())
        try:
            return await store.applied_migrations()
        finally:
            await store.close()

    for migration_id in asyncio.run(run()):
        typer.echo(f"applied: {migration_id}")


@cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="E-mail address")],
    username: Annotated[str, typer.Option(help="Username")],
    display_name: Annotated[str | None, typer.Option(help="Display name (default: the username)")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
) -> None:
    """Create a server administrator (or make an existing user one)."""
    settings = _settings()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    from connectnow.errors import AppError

    try:
        user_id = asyncio.run(_create_admin(settings, email, username, display_name or username, password))
    except AppError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        typer.echo(f"invalid input: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"administrator {username} ready (id {user_id})")


async def _create_admin(settings: Settings, email: str, username: str, display_name: str, password: str) -> str:
    from connectnow.repositories.accounts import UserRepository
    from connectnow.security import Secrets
    from connectnow.services.auth import AuthService
    from connectnow.store import open_store
    from models.users import RegisterIn

    store = await open_store(settings)
    try:
        users = UserRepository(store)
        existing = await users.by_login(email)
        if existing is not None:
            await users.update({"id": existing.id}, {"$set": {"isAdmin": True}})
            return existing.id
        auth = AuthService(store, Secrets(settings), settings, sockets=_NoSockets())
        data = RegisterIn.model_validate(
            {"email": email, "username": username, "displayName": display_name, "password": password}
        )
        return (await auth.create_user(data, is_admin=True)).id
    finally:
        await store.close()


class _NoSockets:
    """The CLI runs outside the server: there are no sockets to close."""

    async def disconnect_user(self, user_id: str, reason: str) -> None:
        return None

    async def disconnect_session(self, session_id: str, reason: str) -> None:
        return None

    async def disconnect_api_key(self, api_key_id: str, reason: str) -> None:
        return None


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
