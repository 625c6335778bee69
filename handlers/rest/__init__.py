"""REST: one router per resource, gathered here under /api/v1 (health probes at the root)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from connectnow.node import Node
from handlers.rest import (  # issue 3A: chat core  # issue 8: calendar sidecar
    admin,
    api_keys,
    attachments,
    audit,
    auth,
    bookings,
    calendars,
    categories,
    channels,
    contacts,
    direct,  # issue 3B: direct messages
    events,
    exports,
    forms,
    groups,
    health,
    ics,
    locations,
    messages,
    scheduled,
    scheduling_admin,
    studybooks,
    sync,  # issue 4: paging through a gap sync did not recover
    templates,
    users,
    workspaces,
)
from handlers.rest.errors import install_error_handlers
from handlers.rest.limits import BodyLimitMiddleware

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX)
for module in (auth, users, api_keys, admin, attachments, contacts, groups, templates, scheduled, studybooks):
    api_router.include_router(module.router)
for module in (bookings, forms, audit, scheduling_admin):  # issue 7: scheduling sidecar
    api_router.include_router(module.router)

for module in (workspaces, channels, messages):  # issue 3A: chat core
    api_router.include_router(module.router)
api_router.include_router(sync.router)  # issue 4
api_router.include_router(direct.router)  # issue 3B
for module in (calendars, events, categories, locations, ics, exports):  # issue 8: calendar sidecar
    api_router.include_router(module.router)


def install_rest(app: FastAPI, node: Node) -> None:
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router)
    upload_limit = node.settings.attachment_max_bytes + attachments.MULTIPART_OVERHEAD_BYTES
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=node.settings.max_request_body_bytes,
        overrides={
            f"{API_PREFIX}/attachments": upload_limit,
            f"{API_PREFIX}/ics/import": node.settings.calendar_ics_max_bytes + 1,  # the service says ICS_TOO_LARGE
        },
    )
