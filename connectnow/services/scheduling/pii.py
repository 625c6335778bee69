"""PII redaction for generated summaries (seed 003 `ai_configurations.piiDetection`).

E-mail addresses, card-like numbers (13 to 19 digits, spaces or dashes allowed, passing the Luhn check)
and phone numbers become `[email]`, `[card]` and `[phone]`. Phone numbers are found by `phonenumbers`
(Google's libphonenumber `PhoneNumberMatcher`, which only takes numbers valid for their country, so dates and
times are left alone): international ones always, national ones when a default region is configured
(`CONNECTNOW_PHONE_DEFAULT_REGION`). Names are not redacted: the summary is about who meets.
"""

from __future__ import annotations

import re

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD_LIKE = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")
UNKNOWN_REGION = "ZZ"  # libphonenumber's "no region": only numbers written with +country are found


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group()


def redact(text: str, region: str | None = None) -> str:
    text = EMAIL.sub("[email]", text)
    text = CARD_LIKE.sub(_card, text)
    found = phonenumbers.PhoneNumberMatcher(text, region or UNKNOWN_REGION, leniency=phonenumbers.Leniency.VALID)
    spans = [(m.start, m.end) for m in found]
    for start, end in reversed(spans):
        text = f"{text[:start]}[phone]{text[end:]}"
    return text
