"""Issue 19: the host profile on each storage adapter — unique usernames and Cal.com ids, and clearing them
(removed, not stored as null, so any number of hosts can be without one on MongoDB's sparse index too)."""

from __future__ import annotations

import pytest

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.scheduling import PublicBooking, SchedulingServices
from connectnow.services.scheduling.public import PublicBookingService
from models.scheduling_public import HostProfileUpdate
from tests.sidecar_scheduling.conftest import MakeActor


async def no_throttle(address: str | None) -> None:
    return None


def public_page(sch: SchedulingServices) -> PublicBookingService:
    """The public booking service as build_scheduling makes it, with no limiter, URL or calendar."""
    return PublicBooking(lambda text: "0" * 64, no_throttle, None, None).service(sch.policies, sch.bookings, sch.audit)


def profile(**fields: object) -> HostProfileUpdate:
    return HostProfileUpdate.model_validate(fields)


async def test_profile_fields_are_unique_and_clearing_frees_them(
    sch: SchedulingServices, make_actor: MakeActor
) -> None:
    public = public_page(sch)
    first, second, third = await make_actor(), await make_actor(), await make_actor()
    saved = await public.set_profile(
        first, profile(schedulingUsername="grace", churchName="Grace", role="admin", calUserId="c1")
    )
    assert (saved.scheduling_link, saved.role, saved.cal_user_id) == ("/api/v1/public/scheduling/grace", "admin", "c1")
    for clash in ({"schedulingUsername": "grace"}, {"calUserId": "c1"}):
        with pytest.raises(AppError) as caught:
            await public.set_profile(second, profile(**clash))
        assert caught.value.code == errors.CONFLICT.code
    # Two hosts without a username or Cal.com id never collide; a cleared username is free again.
    await public.set_profile(second, profile(churchName="Second"))
    await public.set_profile(third, profile(churchName="Third"))
    cleared = await public.set_profile(first, profile())
    assert cleared.scheduling_username is None and cleared.scheduling_link is None and cleared.church_name is None
    taken = await public.set_profile(second, profile(schedulingUsername="grace", calUserId="c1"))
    assert taken.scheduling_username == "grace" and (await public.page("grace")).church_name is None
    with pytest.raises(AppError) as gone:
        await public.page("nobody")
    assert gone.value.code == errors.NOT_FOUND.code


async def test_event_types_need_unique_ids_and_slugs(sch: SchedulingServices, make_actor: MakeActor) -> None:
    public = public_page(sch)
    host = await make_actor()
    kind = {"id": 1, "slug": "visit", "title": "Visit", "durationMinutes": 30}
    with pytest.raises(AppError) as caught:
        await public.set_profile(host, profile(eventTypes=[kind, {**kind, "slug": "other"}]))
    assert caught.value.code == errors.VALIDATION_FAILED.code
    assert (await public.get_profile(host)).event_types == []
