"""Groups, memberships and templates on both adapters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectnow.errors import AppError
from connectnow.services.broadcasts.templates import placeholders_in, render
from connectnow.services.broadcasts.wiring import Broadcasts
from models.contacts import (
    ContactCreate,
    GroupCreate,
    GroupUpdate,
    MembersChange,
    TemplateCreate,
    TemplateUpdate,
)
from tests.sidecar_broadcasts.conftest import MakeUser


async def _contacts(bx: Broadcasts, principal: object, n: int) -> list[str]:
    ids = []
    for i in range(n):
        data = ContactCreate.model_validate({"name": f"Person {i}", "phoneNumber": f"+1202555{i:04d}"})
        ids.append((await bx.contacts.create(principal, data)).contact.id)  # type: ignore[arg-type]
    return ids


def members(ids: list[str]) -> MembersChange:
    return MembersChange.model_validate({"contactIds": ids})


@pytest.mark.parametrize("color", ["red", "#12345", "#GGGGGG", "rgb(1,2,3)", "#fff;", {"$ne": None}])
def test_group_color_is_validated(color: object) -> None:
    with pytest.raises(ValidationError):
        GroupCreate.model_validate({"name": "G", "color": color})


async def test_bulk_membership_and_listing(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    ids = await _contacts(bx, alice, 4)
    group = await bx.groups.create(alice, GroupCreate.model_validate({"name": "Choir", "color": "#A0B1C2"}))
    assert group.color == "#a0b1c2" and group.member_count == 0
    added = await bx.groups.add_members(alice, group.id, members(ids[:3]))
    assert (added.changed, added.member_count) == (3, 3)
    again = await bx.groups.add_members(alice, group.id, members(ids))  # re-adding is harmless
    assert (again.changed, again.member_count) == (1, 4)
    assert [c.name for c in await bx.groups.contacts_of(alice, group.id)] == [f"Person {i}" for i in range(4)]
    removed = await bx.groups.remove_members(alice, group.id, members(ids[:2]))
    assert (removed.changed, removed.member_count) == (2, 2)
    other = await bx.groups.create(alice, GroupCreate.model_validate({"name": "Band", "color": "#000"}))
    await bx.groups.add_members(alice, other.id, members([ids[3]]))
    assert [g.name for g in await bx.contacts.groups_of(alice, ids[3])] == ["Band", "Choir"]
    listed = await bx.groups.list_groups(alice)
    assert [(g.name, g.member_count) for g in listed] == [("Band", 1), ("Choir", 2)]
    updated = await bx.groups.update(alice, group.id, GroupUpdate.model_validate({"description": "Sundays"}))
    assert updated.description == "Sundays" and updated.name == "Choir"
    await bx.groups.delete(alice, group.id)
    assert await bx.groups.memberships.count({"groupId": group.id}) == 0
    assert len(await bx.contacts.contacts.find({"userId": alice.user_id})) == 4  # contacts stay


async def test_foreign_contacts_and_groups_are_refused(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    alice_ids = await _contacts(bx, alice, 2)
    alice_group = await bx.groups.create(alice, GroupCreate.model_validate({"name": "A", "color": "#111"}))
    mallory_group = await bx.groups.create(mallory, GroupCreate.model_validate({"name": "M", "color": "#222"}))
    with pytest.raises(AppError) as caught:
        await bx.groups.add_members(mallory, mallory_group.id, members(alice_ids))
    assert caught.value.code == "NOT_FOUND" and caught.value.details == {"contactIds": sorted(alice_ids)}
    assert await bx.groups.memberships.count({}) == 0  # all or nothing
    for attempt in (
        bx.groups.get(mallory, alice_group.id),
        bx.groups.contacts_of(mallory, alice_group.id),
        bx.groups.add_members(mallory, alice_group.id, members(alice_ids)),
        bx.groups.remove_members(mallory, alice_group.id, members(alice_ids)),
        bx.groups.update(mallory, alice_group.id, GroupUpdate.model_validate({"name": "x"})),
        bx.groups.delete(mallory, alice_group.id),
    ):
        with pytest.raises(AppError) as caught:
            await attempt
        assert caught.value.code == "NOT_FOUND"
    with pytest.raises(ValidationError):
        members([])
    with pytest.raises(ValidationError):
        members(["not-an-id"])
    with pytest.raises(ValidationError):
        members(["0" * 24] * 1001)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Hello {{name}}, call {{ phoneNumber }}", True),
        ("Hi {{firstName}} {{lastName}} <{{email}}>", True),
        ("Hello {{nmae}}", False),
        ("Hello {{name}", False),
        ("Hello {{ }}", False),
        ("Hello }}", False),
        ("Plain text, no braces", True),
    ],
)
def test_placeholders_are_checked(text: str, ok: bool) -> None:
    if ok:
        placeholders_in(text)
    else:
        with pytest.raises(AppError) as caught:
            placeholders_in(text)
        assert caught.value.code == "TEMPLATE_UNKNOWN_PLACEHOLDER"


async def test_templates_crud_and_render(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    created = await bx.templates.create(
        alice,
        TemplateCreate.model_validate(
            {"name": "Reminder", "content": "Hi {{firstName}}, see you! ({{ name }})", "category": "events"}
        ),
    )
    assert created.placeholders == ["firstName", "name"]
    with pytest.raises(AppError) as caught:
        await bx.templates.create(alice, TemplateCreate.model_validate({"name": "Bad", "content": "Hi {{nmae}}"}))
    assert caught.value.code == "TEMPLATE_UNKNOWN_PLACEHOLDER" and caught.value.details["unknown"] == ["nmae"]  # type: ignore[index]
    with pytest.raises(AppError):
        await bx.templates.update(alice, created.id, TemplateUpdate.model_validate({"content": "{{oops}}"}))
    assert (await bx.templates.get(alice, created.id)).content.startswith("Hi {{firstName}}")
    assert [t.name for t in await bx.templates.list_templates(alice, "events")] == ["Reminder"]
    assert await bx.templates.list_templates(alice, "other") == []
    assert await bx.templates.list_templates(mallory, None) == []
    with pytest.raises(AppError) as caught:
        await bx.templates.get(mallory, created.id)
    assert caught.value.code == "NOT_FOUND"
    ids = await _contacts(bx, alice, 1)
    person = await bx.contacts.contacts.get(ids[0])
    assert person is not None
    assert render(created.content, person) == "Hi Person, see you! (Person 0)"
    renamed = await bx.templates.update(alice, created.id, TemplateUpdate.model_validate({"category": None}))
    assert renamed.category is None
    await bx.templates.delete(alice, created.id)
    assert await bx.templates.list_templates(alice, None) == []
