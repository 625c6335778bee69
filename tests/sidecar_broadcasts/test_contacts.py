"""Contacts on both adapters: E.164 normalization, duplicates, search/paging/sorting, isolation, CSV."""

from __future__ import annotations

import csv
import io

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.broadcasts.contacts_csv import export_contacts, import_contacts
from connectnow.services.broadcasts.wiring import Broadcasts
from connectnow.services.contacts import normalize_phone
from models.contacts import ContactCreate, ContactSort, ContactUpdate, DuplicatePolicy, GroupCreate, MembersChange
from tests.sidecar_broadcasts.conftest import MakeUser


def contact(name: str, phone: str, **extra: object) -> ContactCreate:
    return ContactCreate.model_validate({"name": name, "phoneNumber": phone, **extra})


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (202) 555-0143", None, "+12025550143"),
        ("202-555-0143", "US", "+12025550143"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+44 20 7946 0958", "FR", "+442079460958"),
        ("+33 6 12 34 56 78 ext. 12", None, "+33612345678"),
    ],
)
def test_phone_numbers_normalize_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "code"),
    [
        ("202-555-0143", None, "PHONE_AMBIGUOUS"),  # no country code, no region
        ("+1 202 555 01", None, "PHONE_INVALID"),  # too short
        ("+999 1234567", None, "PHONE_INVALID"),  # no such country code
        ("not a number", "US", "PHONE_INVALID"),
        ("+33 1", None, "PHONE_INVALID"),
    ],
)
def test_bad_phone_numbers_are_refused(raw: str, region: str | None, code: str) -> None:
    with pytest.raises(AppError) as caught:
        normalize_phone(raw, region)
    assert caught.value.code == code


async def test_create_normalizes_and_refuses_or_merges_duplicates(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    created = await bx.contacts.create(alice, contact("Bob Stone", "+1 202-555-0143", email="bob@example.com"))
    assert created.contact.phone_number == "+12025550143" and not created.merged

    with pytest.raises(AppError) as caught:
        await bx.contacts.create(alice, contact("Bobby", "(202) 555 0143", region="US"))
    assert caught.value.code == "CONTACT_DUPLICATE"
    assert caught.value.details == {"contactId": created.contact.id, "phoneNumber": "+12025550143"}

    merged = await bx.contacts.create(
        alice, contact("Bobby", "+12025550143", notes="met at work"), DuplicatePolicy.MERGE
    )
    assert merged.merged and merged.contact.id == created.contact.id
    assert (merged.contact.name, merged.contact.email, merged.contact.notes) == (
        "Bobby",
        "bob@example.com",
        "met at work",
    )
    page = await bx.contacts.list_contacts(alice, q=None, sort=ContactSort.NAME, limit=50, offset=0)
    assert page.total == 1


async def test_invalid_phone_stores_nothing(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    with pytest.raises(AppError) as caught:
        await bx.contacts.create(alice, contact("X", "12345"))
    assert caught.value.code == "PHONE_AMBIGUOUS"
    assert await bx.contacts.contacts.count({}) == 0


def test_input_shape_is_checked() -> None:
    for bad in (
        {"name": "A", "phoneNumber": {"$ne": None}},
        {"name": {"$gt": ""}, "phoneNumber": "+12025550143"},
        {"name": "A", "phoneNumber": "+12025550143", "userId": "someone"},
        {"name": "A\u202e", "phoneNumber": "+12025550143"},
        {"name": "x" * 121, "phoneNumber": "+12025550143"},
        {"name": "A", "phoneNumber": "+12025550143", "email": "not-an-email"},
        {"name": "A", "phoneNumber": "+12025550143", "region": "usa"},
    ):
        with pytest.raises(ValidationError):
            ContactCreate.model_validate(bad)


async def test_another_users_contact_is_not_found(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    mine = (await bx.contacts.create(alice, contact("Bob", "+12025550143"))).contact
    for attempt in (
        bx.contacts.get(mallory, mine.id),
        bx.contacts.update(mallory, mine.id, ContactUpdate.model_validate({"name": "pwned"})),
        bx.contacts.delete(mallory, mine.id),
        bx.contacts.groups_of(mallory, mine.id),
    ):
        with pytest.raises(AppError) as caught:
            await attempt
        assert caught.value.code == "NOT_FOUND"
    assert (await bx.contacts.get(alice, mine.id)).name == "Bob"
    # Mallory may keep the same number in her own book: books are separate.
    assert (await bx.contacts.create(mallory, contact("Bob", "+12025550143"))).merged is False


async def test_list_sorts_pages_and_searches(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    names = ["Carol Jones", "alice Smith", "Bob Stone", "Dave Smith", "Eve Adams"]
    for i, name in enumerate(names):
        await bx.contacts.create(alice, contact(name, f"+1202555014{i}", notes="gardening club" if i == 3 else None))
    page1 = await bx.contacts.list_contacts(alice, q=None, sort=ContactSort.NAME, limit=2, offset=0)
    assert [c.name for c in page1.items] == ["alice Smith", "Bob Stone"] and page1.total == 5
    assert page1.next_offset == 2
    page3 = await bx.contacts.list_contacts(alice, q=None, sort=ContactSort.NAME, limit=2, offset=4)
    assert [c.name for c in page3.items] == ["Eve Adams"] and page3.next_offset is None
    desc = await bx.contacts.list_contacts(alice, q=None, sort=ContactSort.NAME_DESC, limit=1, offset=0)
    assert desc.items[0].name == "Eve Adams"
    found = await bx.contacts.list_contacts(alice, q="smith", sort=ContactSort.NAME, limit=10, offset=0)
    assert sorted(c.name for c in found.items) == ["Dave Smith", "alice Smith"]
    by_notes = await bx.contacts.list_contacts(alice, q="gardening", sort=ContactSort.NAME, limit=10, offset=0)
    assert [c.name for c in by_notes.items] == ["Dave Smith"]
    by_phone = await bx.contacts.list_contacts(alice, q="+1 202 555 0142", sort=ContactSort.NAME, limit=10, offset=0)
    assert [c.name for c in by_phone.items] == ["Bob Stone"]
    other = await make_user()
    assert (await bx.contacts.list_contacts(other, q="smith", sort=ContactSort.NAME, limit=10, offset=0)).total == 0


async def test_update_renormalizes_and_refuses_a_duplicate(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    a = (await bx.contacts.create(alice, contact("A", "+12025550140"))).contact
    b = (await bx.contacts.create(alice, contact("B", "+12025550141"))).contact
    moved = await bx.contacts.update(
        alice, a.id, ContactUpdate.model_validate({"phoneNumber": "202 555 0149", "region": "US"})
    )
    assert moved.phone_number == "+12025550149"
    with pytest.raises(AppError) as caught:
        await bx.contacts.update(alice, a.id, ContactUpdate.model_validate({"phoneNumber": "+12025550141"}))
    assert caught.value.code == "CONTACT_DUPLICATE" and caught.value.details == {"contactId": b.id}
    cleared = await bx.contacts.update(alice, b.id, ContactUpdate.model_validate({"email": None}))
    assert cleared.email is None


async def test_deleting_a_contact_removes_its_memberships(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    c = (await bx.contacts.create(alice, contact("A", "+12025550140"))).contact
    group = await bx.groups.create(alice, GroupCreate.model_validate({"name": "Team", "color": "#ABC"}))
    await bx.groups.add_members(alice, group.id, MembersChange.model_validate({"contactIds": [c.id]}))
    assert [g.id for g in await bx.contacts.groups_of(alice, c.id)] == [group.id]
    await bx.contacts.delete(alice, c.id)
    assert await bx.groups.memberships.count({"contactId": c.id}) == 0
    assert (await bx.groups.get(alice, group.id)).member_count == 0


CSV = """Name,Phone,Email,Notes
Bob Stone,+1 202 555 0143,bob@example.com,
Carol,not a phone,,
Bob again,(202) 555-0143,,second copy
,+12025550144,,
Dave,+44 20 7946 0958,dave@,

Eve,+33 6 12 34 56 78,,"quoted, with comma"
"""


async def test_csv_import_reports_every_row(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    bx.contacts.settings.phone_default_region = "US"
    ticks: list[int] = []
    report = await import_contacts(bx.contacts, alice, CSV, DuplicatePolicy.MERGE, max_rows=100, progress=ticks.append)
    outcomes = [(r.row, r.outcome, r.code) for r in report.rows]
    assert outcomes == [
        (2, "created", None),
        (3, "refused", "PHONE_INVALID"),
        (4, "merged", None),
        (5, "refused", "VALIDATION_FAILED"),
        (6, "refused", "VALIDATION_FAILED"),
        (8, "created", None),
    ]
    assert (report.created, report.merged, report.refused) == (2, 1, 3)
    assert len(ticks) == 6
    refused_again = await import_contacts(bx.contacts, alice, CSV, DuplicatePolicy.REFUSE, max_rows=100)
    assert [r.code for r in refused_again.rows if r.row in (2, 4, 8)] == ["CONTACT_DUPLICATE"] * 3

    lines = [line async for line in export_contacts(bx.contacts, alice)]
    assert lines[0].strip() == "name,phoneNumber,email,notes,createdAt"
    assert lines[1].startswith("Bob again,+12025550143,bob@example.com,second copy,")
    assert lines[2].startswith('Eve,+33612345678,,"quoted, with comma",')


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "empty"), ("foo,bar\n1,2\n", "header"), ('name,phone\n"unterminated,+1\n', None)],
)
async def test_unreadable_csv_is_refused(bx: Broadcasts, make_user: MakeUser, text: str, why: str | None) -> None:
    alice = await make_user()
    try:
        report = await import_contacts(bx.contacts, alice, text, DuplicatePolicy.REFUSE, max_rows=10)
    except AppError as exc:
        assert exc.error is errors.CSV_INVALID
        return
    # csv accepts an unterminated quote as one long field: the row is then refused, never stored.
    assert why is None and report.created == 0 and report.refused == 1


async def test_csv_row_limit_and_formula_neutralized(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    many = "name,phoneNumber\n" + "".join(f"P{i},+1202555{i:04d}\n" for i in range(11))
    with pytest.raises(AppError) as caught:
        await import_contacts(bx.contacts, alice, many, DuplicatePolicy.REFUSE, max_rows=10)
    assert caught.value.code == "CSV_INVALID"
    assert await bx.contacts.contacts.count({}) == 0
    await bx.contacts.create(alice, contact('=HYPERLINK("http://evil")', "+12025550143", notes="@SUM(A1)"))
    lines = [line async for line in export_contacts(bx.contacts, alice)]
    row = next(csv.reader(io.StringIO(lines[1])))
    assert row[0] == '\'=HYPERLINK("http://evil")' and row[3] == "'@SUM(A1)"
