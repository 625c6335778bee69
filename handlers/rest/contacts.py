"""Contacts: the caller's address book (CRUD, search, CSV import and export). Documented in
docs/SIDECAR-BROADCASTS.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.broadcasts.contacts_csv import decode_csv, export_contacts, import_contacts
from handlers.rest.deps import CurrentPrincipal, NodeDep, ServicesDep
from models.contacts import (
    ContactCreate,
    ContactCreated,
    ContactPage,
    ContactPublic,
    ContactSort,
    ContactUpdate,
    DuplicatePolicy,
    GroupPublic,
    ImportReport,
    OptOutCreate,
)

router = APIRouter(prefix="/contacts", tags=["contacts"])
CSV_TYPES = ("text/csv", "text/plain", "application/csv")
OnDuplicate = Annotated[DuplicatePolicy, Query(alias="onDuplicate")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ContactCreated)
async def create_contact(
    body: ContactCreate,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    on_duplicate: OnDuplicate = DuplicatePolicy.REFUSE,
) -> ContactCreated:
    return await svc.broadcasts.contacts.create(principal, body, on_duplicate)


@router.get("", response_model=ContactPage)
async def list_contacts(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: ContactSort = ContactSort.NAME,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ContactPage:
    return await svc.broadcasts.contacts.list_contacts(principal, q=q, sort=sort, limit=limit, offset=offset)


@router.get("/export", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(principal: CurrentPrincipal, svc: ServicesDep) -> StreamingResponse:
    return StreamingResponse(
        export_contacts(svc.broadcasts.contacts, principal),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )


@router.post(
    "/import",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            }
        }
    },
)
async def import_csv(
    request: Request,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    node: NodeDep,
    on_duplicate: OnDuplicate = DuplicatePolicy.REFUSE,
) -> ImportReport:
    """A CSV body (text/csv) or a multipart form with a `file` field; answers a report per row."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise AppError(errors.CSV_INVALID, "Send the CSV file in a form field named 'file'")
        data = await upload.read()
    elif content_type in CSV_TYPES:
        data = await request.body()
    else:
        raise AppError(errors.CSV_INVALID, "Send text/csv or multipart/form-data", details={"type": content_type})
    return await import_contacts(
        svc.broadcasts.contacts,
        principal,
        decode_csv(data),
        on_duplicate,
        max_rows=node.settings.broadcast_import_max_rows,
    )


@router.get("/{contact_id}", response_model=ContactPublic)
async def get_contact(contact_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> ContactPublic:
    return await svc.broadcasts.contacts.get(principal, contact_id)


@router.patch("/{contact_id}", response_model=ContactPublic)
async def update_contact(
    contact_id: str, body: ContactUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> ContactPublic:
    return await svc.broadcasts.contacts.update(principal, contact_id, body)


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(contact_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.broadcasts.contacts.delete(principal, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{contact_id}/groups", response_model=list[GroupPublic])
async def groups_of_contact(contact_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[GroupPublic]:
    return await svc.broadcasts.contacts.groups_of(principal, contact_id)


@router.post("/{contact_id}/opt-out", response_model=ContactPublic)
async def opt_out_contact(
    contact_id: str, body: OptOutCreate, principal: CurrentPrincipal, svc: ServicesDep
) -> ContactPublic:
    """Record an opt-out the contact asked for another way; from now on nothing is sent to them. Only the
    contact's own START reply (inbound webhook) opts them back in."""
    return await svc.broadcasts.consent.opt_out(principal, contact_id, body.reason)
