"""REST: one router per resource, gathered here under /api/v1 (health probes at the root)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from connectnow.node import Node
from handlers.rest import (
    account,
    admin,
    api_keys,
    attachments,
    audit,
    auth,
    bookings,
    broadcast_series,
    calendar_subscriptions,
    calendars,
    categories,
    channels,
    contacts,
    dashboard,
    direct,
    events,
    exports,
    forms,
    groups,
    health,
    ics,
    locations,
    messages,
    moderation,
    public_scheduling,
    rsvp,
    scheduled,
    scheduling_admin,
    studybooks,
    sync,
    templates,
    users,
    webapp,
    workspaces,
)
from handlers.rest.errors import install_error_handlers
from handlers.rest.guard import InputGuardMiddleware
from handlers.rest.limits import BodyLimitMiddleware
from handlers.rest.openapi import install_openapi

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX)
ROUTERS = (
    (auth, users, api_keys, admin, attachments),  # foundation and attachments
    (workspaces, channels, messages, direct, sync),  # chat core and recovery
    (moderation, account),  # deleted messages kept for review, reports, mail flows
    (contacts, groups, templates, scheduled, broadcast_series, studybooks),  # broadcasts sidecar
    (bookings, forms, audit, scheduling_admin, public_scheduling),  # scheduling sidecar and its public booking page
    (calendars, calendar_subscriptions, events, rsvp, categories, locations, ics, exports),  # calendar sidecar
)
for group in ROUTERS:
    for module in group:
        api_router.include_router(module.router)


def install_rest(app: FastAPI, node: Node) -> None:
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(webapp.router)
    app.include_router(api_router)
    app.add_middleware(InputGuardMiddleware)  # inside the body limit: it reads only bodies within the limit
    upload_limit = node.settings.attachment_max_bytes + attachments.MULTIPART_OVERHEAD_BYTES
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=node.settings.max_request_body_bytes,
        overrides={
            f"{API_PREFIX}/attachments": upload_limit,
            f"{API_PREFIX}/ics/import": node.settings.calendar_ics_max_bytes + 1,  # the service says ICS_TOO_LARGE
        },
    )
