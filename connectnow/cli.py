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
cli.add_typer(scheduling_cli, name="scheduling")  # key rotation
cli.add_typer(contacts_cli, name="contacts")  # CSV import and export of address books
cli.add_typer(calendar_cli, name="calendar")  # admin exports with a progress bar, maintenance


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
    config = uvicorn.Config(
        "connectnow.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        # Engine.IO already pings every socket (pingInterval/pingTimeout) and closes the silent ones. uvicorn's
        # own WebSocket keepalive is redundant, and under load it re-pings at once whenever a round trip took
        # longer than its interval: 65 % of the server's time in a 10,000-socket reconnect storm (BENCHMARKS.md).
        ws_ping_interval=None,
        log_level=settings.log_level.lower(),
        # Proxy headers are read by the app itself (connectnow/proxies.py), from CONNECTNOW_TRUSTED_PROXIES only.
        proxy_headers=False,
        # A shutdown never waits on a client that keeps a connection open.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    if settings.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise typer.Exit(STARTUP_FAILURE)
        return
    raise typer.Exit(_run_workers(config))


SHUTDOWN_GRACE_SECONDS = 5
STARTUP_FAILURE = 3  # uvicorn's exit status for a server that could not start


def _run_workers(config: object) -> int:
    """uvicorn's supervisor, then an exit status: a worker that failed to start stops the supervisor (it
    would fail the same way again), and `serve` must then exit non-zero so that systemd, Docker or Kubernetes
    restart it, instead of exiting 0 as if asked to stop."""
    from uvicorn import Config
    from uvicorn.supervisors import Multiprocess

    assert isinstance(config, Config)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = [p for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    return STARTUP_FAILURE if failed else 0


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
