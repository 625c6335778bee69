"""Retention periods (seed 003 `system_settings`), with the environment as the default.

An administrator sets `retention.summaryDays`, `retention.formDays` and `retention.auditDays` through
`PUT /api/v1/admin/scheduling/settings/{key}` (`{"value": 30}`, not encrypted: 1 to 3650 days). Without
one, `CONNECTNOW_SUMMARY_RETENTION_DAYS`, `CONNECTNOW_FORM_RETENTION_DAYS` and
`CONNECTNOW_AUDIT_RETENTION_DAYS` apply. Every use reads the settings again (one indexed query), so a change
takes effect on the next summary, form response, booking change and purge, on every worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from connectnow import errors
from connectnow.errors import AppError
from connectnow.repositories.scheduling import SystemSettingRepository
from connectnow.store.port import DocumentStore

KEYS = {"retention.summaryDays": "summary", "retention.formDays": "form", "retention.auditDays": "audit"}
MIN_DAYS, MAX_DAYS = 1, 3650


def valid_days(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_DAYS <= value <= MAX_DAYS


def check_setting(key: str, value: Any, encrypted: bool) -> None:
    """A retention key takes a plain whole number of days; other keys are free-form."""
    if key in KEYS and (encrypted or not valid_days(value)):
        raise AppError(
            errors.VALIDATION_FAILED,
            f"{key} is a whole number of days from {MIN_DAYS} to {MAX_DAYS}, not encrypted",
            details={"key": key},
        )


@dataclass(frozen=True)
class Periods:
    summary_days: int
    form: timedelta
    audit: timedelta


class Retention:
    def __init__(self, store: DocumentStore, summary_days: int, form_days: int, audit_days: int) -> None:
        self.settings = SystemSettingRepository(store)
        self.defaults = {"summary": summary_days, "form": form_days, "audit": audit_days}

    async def current(self) -> Periods:
        days = dict(self.defaults)
        for record in await self.settings.by_keys(list(KEYS)):
            if not record.is_encrypted and valid_days(record.value):
                days[KEYS[record.key]] = int(record.value)
        return Periods(
            summary_days=days["summary"], form=timedelta(days=days["form"]), audit=timedelta(days=days["audit"])
        )
