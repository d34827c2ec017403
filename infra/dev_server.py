"""`restoreclick dev`: the whole shop in one process on one port.

Embedded PostgreSQL with the migrations applied, every function's routes, and the local
stand-ins (storage, payments, email outbox) that need no account or key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from rich.console import Console
from rich.panel import Panel

from shared.core import db
from shared.core.config import Settings, get_settings

if TYPE_CHECKING:
    from infra.scheduler import LocalScheduler


def function_routers() -> list[APIRouter]:
    """The routes of every Lambda function, as they are deployed one by one."""
    from functions.checkout.handler import router as checkout
    from functions.download.handler import router as download
    from functions.replicate_webhook.handler import router as replicate_webhook
    from functions.resend.handler import router as resend
    from functions.status.handler import router as status
    from functions.stripe_webhook.handler import router as stripe_webhook
    from functions.upload.handler import router as upload
    from functions.workers.handler import router as workers
    from shared.health import router as health

    return [health, upload, checkout, stripe_webhook, replicate_webhook, status, download, resend, workers]


def body_limits(settings: Settings) -> dict[str, int]:
    from functions.upload.handler import body_limits as upload_limits

    # Local storage takes direct uploads of photos too large for a function request; its
    # route checks UPLOAD_MAX_BYTES itself as the body streams.
    return upload_limits(settings) | {"/local-storage/": settings.upload_max_bytes}


def local_stand_in_routers(settings: Settings, deliver_webhook: Callable[[bytes, str], int]) -> list[APIRouter]:
    """Storage and payment pages that production gets from Supabase and Stripe."""
    from shared.deps import get_payments, get_storage
    from shared.payments import webhook_secrets
    from shared.payments.local_provider import LocalPayments
    from shared.payments.local_routes import local_checkout_router
    from shared.storage.local import LocalObjectStore
    from shared.storage.local_routes import local_storage_router

    routers = []
    store = get_storage().store
    if isinstance(store, LocalObjectStore):
        routers.append(local_storage_router(store, settings.upload_max_bytes))
    payments = get_payments()
    if isinstance(payments, LocalPayments):
        routers.append(local_checkout_router(payments, webhook_secrets(settings)[0], deliver_webhook))
    if settings.effective_email_provider == "outbox":
        from shared.email.outbox_routes import outbox_router

        routers.append(outbox_router(settings.outbox_dir))
    return routers


def build_dev_app(settings: Settings, deliver_webhook: Callable[[bytes, str], int] | None = None) -> FastAPI:
    """One app with every function's routes and the local stand-ins.

    `deliver_webhook` posts a signed event to the webhook endpoint; by default over real
    HTTP to PUBLIC_BASE_URL, exactly as Stripe would.
    """
    from shared.core.http import create_app

    def post_to_webhook(payload: bytes, signature: str) -> int:
        import httpx

        response = httpx.post(
            f"{settings.public_base_url}/api/webhooks/stripe",
            content=payload,
            headers={"stripe-signature": signature, "content-type": "application/json"},
            timeout=30,
        )
        return response.status_code

    from infra.demo_routes import demo_router

    routers = function_routers() + local_stand_in_routers(settings, deliver_webhook or post_to_webhook)
    routers.append(demo_router(settings))  # the shop page at `/`: dev only, no Lambda has it
    return create_app("dev", routers, body_limit_overrides=body_limits(settings))


@dataclass
class DevEnvironment:
    database_url: str
    base_url: str


@contextmanager
def dev_environment(settings: Settings, *, port: int, reset: bool, console: Console) -> Iterator[DevEnvironment]:
    """Start (or reuse) the embedded database, apply migrations, point the settings at it."""
    from shared.migrations import push_migrations

    with _database(settings, reset=reset, console=console) as url:
        with console.status("Applying migrations…"):
            result = push_migrations(url, settings.migrations_dir)
        console.print(f"[green]✓[/] migrations: {len(result.applied)} applied now, schema up to date")
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        get_settings.cache_clear()
        db.set_database(None)
        try:
            yield DevEnvironment(database_url=url, base_url=f"http://127.0.0.1:{port}")
        finally:
            db.set_database(None)


@contextmanager
def _database(settings: Settings, *, reset: bool, console: Console) -> Iterator[str]:
    if settings.database_url:
        console.print("[green]✓[/] database: DATABASE_URL")
        yield settings.database_url
        return
    from infra.local_database import dev_server, local_database

    if reset:
        dev_server(settings.local_data_dir, settings.local_db_port).destroy()
        console.print("[yellow]•[/] --reset: embedded database deleted")
    with console.status("Starting embedded PostgreSQL…"):
        ctx = local_database(settings.local_data_dir, settings.local_db_port)
        url = ctx.__enter__()
    console.print(f"[green]✓[/] database: embedded PostgreSQL in {settings.local_data_dir / 'postgres'}")
    try:
        yield url
    finally:
        with console.status("Stopping embedded PostgreSQL…"):
            ctx.__exit__(None, None, None)
        console.print("[green]✓[/] embedded PostgreSQL stopped")


def start_scheduler() -> LocalScheduler:
    """Run the workers on serverless.yml's schedules, and at once when the webhook asks."""
    from infra.scheduler import LocalScheduler, schedules_from_serverless
    from shared.core.config import PROJECT_ROOT
    from shared.jobs.queue import deadline_in
    from shared.jobs.schedule import run_scheduled
    from shared.jobs.triggers import set_local_runner

    def run(worker: str) -> None:
        run_scheduled(worker, get_settings(), deadline_in(50))

    scheduler = LocalScheduler(schedules_from_serverless(PROJECT_ROOT / "serverless.yml"), run).start()
    set_local_runner(scheduler.request)
    return scheduler


def banner(env: DevEnvironment) -> Panel:
    lines = [
        f"[bold]RestoreClick is running[/] at [link={env.base_url}]{env.base_url}[/]",
        "",
        f"  health     {env.base_url}/api/health",
        f"  uploads    {env.base_url}/api/uploads",
        f"  checkout   {env.base_url}/api/checkout",
        f"  webhook    {env.base_url}/api/webhooks/stripe",
        f"  outbox     {env.base_url}/dev/outbox",
        "  workers    restoration and email every minute, cleanup daily (as serverless.yml says)",
        "",
        "Ctrl-C stops everything, the database included.",
    ]
    return Panel("\n".join(lines), title="restoreclick dev", border_style="green")


def run_dev(*, port: int, reset: bool, host: str = "127.0.0.1") -> None:
    import uvicorn

    console = Console()
    settings = get_settings()
    if reset and settings.local_data_dir.exists():
        import shutil

        for sub in ("storage", "outbox", "payments"):
            shutil.rmtree(settings.local_data_dir / sub, ignore_errors=True)
    with dev_environment(settings, port=port, reset=reset, console=console) as env:
        app = build_dev_app(get_settings())
        scheduler = start_scheduler()
        console.print(banner(env))
        try:
            # lifespan off, as under Mangum: nothing may depend on startup hooks.
            uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")
        except KeyboardInterrupt:
            console.print("Stopping…")
        finally:
            from shared.jobs.triggers import set_local_runner

            set_local_runner(None)
            scheduler.stop()
