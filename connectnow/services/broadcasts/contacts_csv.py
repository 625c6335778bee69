"""CSV import and export of an address book, with a report per row.

Columns (header required, case-insensitive): name, phoneNumber (or phone, phone_number), email, notes.
Each row is validated like a REST create; a duplicate phone number (in the book or earlier in the file) is
refused or merged according to the policy. Export neutralizes spreadsheet formulas (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable

from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.contacts import ContactService
from models.contacts import ContactCreate, DuplicatePolicy, ImportReport, ImportRow

HEADER_ALIASES = {
    "name": "name",
    "phonenumber": "phoneNumber",
    "phone": "phoneNumber",
    "phone_number": "phoneNumber",
    "email": "email",
    "notes": "notes",
}
EXPORT_COLUMNS = ("name", "phoneNumber", "email", "notes", "createdAt")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_FIELD_CHARS = 10_000

Progress = Callable[[int], None]


def parse_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """The mapped header and the data rows; CSV_INVALID when the file cannot be read."""
    csv.field_size_limit(MAX_FIELD_CHARS)
    # strict: an unbalanced quote is an error, not a field that silently swallows the rest of the file.
    reader = csv.reader(io.StringIO(text), strict=True)
    rows: list[list[str]] = []
    line = 1
    try:
        for row in reader:
            rows.append(row)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise AppError(
            errors.CSV_INVALID, f"Unreadable CSV at line {line}: {exc} (is a quote unbalanced?)", details={"line": line}
        ) from None
    if not rows:
        raise AppError(errors.CSV_INVALID, "The file is empty: a header row is required")
    header = [HEADER_ALIASES.get(h.strip().lower(), "") for h in rows[0]]
    if "name" not in header or "phoneNumber" not in header:
        raise AppError(
            errors.CSV_INVALID,
            "The header must name the columns 'name' and 'phoneNumber'",
            details={"header": rows[0][:20]},
        )
    return header, rows[1:]


def decode_csv(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AppError(errors.CSV_INVALID, "The file is not UTF-8 text") from None


async def import_contacts(
    service: ContactService,
    principal: Principal,
    text: str,
    policy: DuplicatePolicy,
    *,
    max_rows: int,
    progress: Progress | None = None,
) -> ImportReport:
    header, rows = parse_csv(text)
    if len(rows) > max_rows:
        raise AppError(errors.CSV_INVALID, f"At most {max_rows} rows per import", details={"rows": len(rows)})
    report = ImportReport()
    for index, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines are not rows
        report.rows.append(await _import_row(service, principal, header, row, index, policy))
        if progress:
            progress(1)
    report.created = sum(1 for r in report.rows if r.outcome == "created")
    report.merged = sum(1 for r in report.rows if r.outcome == "merged")
    report.refused = sum(1 for r in report.rows if r.outcome == "refused")
    return report


async def _import_row(
    service: ContactService,
    principal: Principal,
    header: list[str],
    row: list[str],
    number: int,
    policy: DuplicatePolicy,
) -> ImportRow:
    values = {key: cell for key, cell in zip(header, row, strict=False) if key and cell.strip()}
    try:
        data = ContactCreate.model_validate(values)
        created = await service.create(principal, data, policy)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return ImportRow(row=number, outcome="refused", code="VALIDATION_FAILED", reason=f"{where}: {first['msg']}")
    except AppError as exc:
        return ImportRow(row=number, outcome="refused", code=exc.code, reason=exc.message)
    outcome = "merged" if created.merged else "created"
    return ImportRow(row=number, outcome=outcome, contact_id=created.contact.id)


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(list(cells))
    return buffer.getvalue()


async def export_contacts(service: ContactService, principal: Principal) -> AsyncIterator[str]:
    """Stream the address book as CSV, one line at a time (bounded memory for large books)."""
    yield _line(EXPORT_COLUMNS)
    async for c in service.contacts.iterate({"userId": principal.user_id}, sort=[("nameLower", 1), ("id", 1)]):
        # E.164 numbers are "+" and digits: a spreadsheet reads them as numbers, never as formulas.
        yield _line(
            [
                _safe_cell(c.name),
                c.phone_number,
                _safe_cell(c.email or ""),
                _safe_cell(c.notes or ""),
                c.created_at.isoformat(),
            ]
        )
