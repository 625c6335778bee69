"""`jit-validate` (seed 003 worker job type): just before a booking starts, check it again.

The host's policy may have changed since the booking was made (working hours, quiet hours, daily and weekly
limits, buffers against meetings booked later) and so may the form its answers were given to. The job re-runs
the same checks a new booking gets and records the outcome in the job's `result` and in the audit log; it
changes nothing (a host decides what to do with a booking that no longer fits).
"""

from __future__ import annotations

from typing import Any

from connectnow.errors import AppError
from connectnow.services.scheduling import rules
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.forms import FormService, validate_answers
from connectnow.services.scheduling.policies import PolicyService
from connectnow.services.scheduling.sealing import unseal
from models.scheduling import ACTIVE_STATUSES
from models.scheduling_ops import JobRecord


class JitValidator:
    def __init__(self, policies: PolicyService, forms: FormService, audit: AuditService) -> None:
        self.policies = policies
        self.forms = forms
        self.audit = audit

    async def job(self, job: JobRecord) -> dict[str, Any]:
        booking = await self.policies.bookings.get(str(job.payload["bookingId"]))
        if booking is None or booking.status not in ACTIVE_STATUSES:
            return {"skipped": "booking deleted or no longer active"}
        policy = await self.policies.policy_for(booking.user_id)
        existing = await self.policies.context(booking.user_id, booking.start_time, booking.end_time, booking.id)
        violation = rules.evaluate(policy, booking.start_time, booking.end_time, booking.buffer_minutes, existing)
        problems: list[dict[str, Any]] = []
        if violation is not None:
            error = violation.error()
            problems.append({"check": "policy", "code": error.code, "rule": violation.rule, "message": error.message})
        problems += await self._forms(booking.id)
        result = {"valid": not problems, "problems": problems}
        await self.audit.record(None, "booking.jitValidate", "booking", booking.id, booking_id=booking.id)
        return result

    async def _forms(self, booking_id: str) -> list[dict[str, Any]]:
        """Each of the booking's form responses against its form as it is now."""
        problems: list[dict[str, Any]] = []
        for response in await self.forms.responses.find({"bookingId": booking_id}):
            form = await self.forms.forms.get(response.form_id)
            if form is None or not form.is_active:
                problems.append({"check": "form", "formId": response.form_id, "code": "FORM_INACTIVE"})
                continue
            answers = unseal(self.forms.ring, response.encrypted_data, "form_responses", response.id, "encryptedData")
            try:
                validate_answers(form, answers)
            except AppError as exc:
                problems.append({"check": "form", "formId": form.id, "code": exc.code, "message": exc.message})
        return problems
