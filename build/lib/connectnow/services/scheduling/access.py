"""Who is acting (principal plus network facts for the audit log) and the visibility rules of the sidecar."""

from __future__ import annotations

from dataclasses import dataclass

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.auth import ClientInfo, Principal
from models.scheduling import BookingRecord


@dataclass(frozen=True, slots=True)
class Actor:
    principal: Principal
    client: ClientInfo

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    @property
    def is_admin(self) -> bool:
        return self.principal.user.is_admin


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise AppError(errors.ADMIN_REQUIRED)


def is_participant(actor: Actor, booking: BookingRecord) -> bool:
    return actor.user_id in (booking.user_id, booking.created_by)


def require_visible(actor: Actor, booking: BookingRecord | None) -> BookingRecord:
    """The host, the booker and administrators see a booking; to anyone else it does not exist."""
    if booking is None or not (is_participant(actor, booking) or actor.is_admin):
        raise AppError(errors.NOT_FOUND, "No such booking")
    return booking
