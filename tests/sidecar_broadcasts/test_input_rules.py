"""Issue 14: phone numbers, CSV quoting and time-zone names are taken exactly, or refused with a clear code."""

from __future__ import annotations

import pytest

from connectnow.errors import AppError
from connectnow.services.broadcasts.contacts_csv import parse_csv
from connectnow.services.broadcasts.timing import load_zone
from connectnow.services.contacts import normalize_phone
from connectnow.services.scheduling.rules import zone


@pytest.mark.parametrize(
    "raw",
    ["++12025550143", "tel:+12025550143", "+12025550143\u202e", "+1202555\u20660143", "+1 202 555 0143 abc", "1+202"],
)
def test_odd_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(AppError) as info:
        normalize_phone(raw, None)
    assert info.value.code == "PHONE_INVALID"


@pytest.mark.parametrize("raw", ["+1 (202) 555-0143", "+1.202.555.0143", "+12025550143 x12", "+1 202 555 0143 ext. 7"])
def test_ordinary_phone_numbers_still_pass(raw: str) -> None:
    assert normalize_phone(raw, None) == "+12025550143"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('name,phoneNumber\nAnn,"+12025550143\nBob,+12025550144\n', 2),  # never closed: would swallow Bob
        ('name,phoneNumber\nAnn,+12025550143\nBob,"+1202"555,x\n', 3),  # text after a closing quote
    ],
)
def test_unbalanced_quotes_are_refused_with_the_line(text: str, line: int) -> None:
    with pytest.raises(AppError) as info:
        parse_csv(text)
    assert info.value.code == "CSV_INVALID" and info.value.details == {"line": line}
    assert f"line {line}" in info.value.message


def test_quoted_fields_with_newlines_still_read() -> None:
    _header, rows = parse_csv('name,phoneNumber,notes\n"Ann, A",+12025550143,"two\nlines"\n')
    assert rows == [["Ann, A", "+12025550143", "two\nlines"]]


@pytest.mark.parametrize("name", [" UTC", "UTC ", "localtime", "posixrules", "Factory", "/etc/localtime", "../UTC"])
def test_time_zones_are_exact_iana_keys(name: str) -> None:
    for load in (load_zone, zone):
        with pytest.raises(AppError) as info:
            load(name)
        assert info.value.code == "TIMEZONE_UNKNOWN"
    assert str(load_zone("America/New_York")) == str(zone("America/New_York")) == "America/New_York"
