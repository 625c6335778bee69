"""Repositories are the only code that speaks the storage filter language (issue 15).

Services, handlers and the realtime layer ask repositories named questions (`unread_counts`, `claim`,
`delete_for_channels`); only connectnow/repositories and connectnow/store build filters, updates and sorts
with MongoDB-style operators or touch a collection. This scans the source (AST, not text) and names every
file:line that breaks the rule:

- a string constant that is a storage operator (`"$in"`, `"$set"`, `"$or"`, ...), wherever it appears;
- an attribute `.coll` or `.collection` (a raw collection handle, or `store.collection(...)`);
- an attribute `.repo` reached through another object (`self.messages.log.repo`): a service's own
  `self.repo` is fine, another area's repository is not.
"""

from __future__ import annotations

import ast
from pathlib import Path

from connectnow.store.port import COMPARISON_OPS, LOGICAL_OPS, UPDATE_OPS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("connectnow/services", "handlers", "connectnow/realtime")
# The port's operators plus MongoDB's others, so none slips in unnoticed; JSON Schema's `$ref`/`$defs` are
# not storage operators and stay allowed (OpenAPI, form schemas).
OPERATORS = COMPARISON_OPS | LOGICAL_OPS | UPDATE_OPS | {"$text", "$search", "$near", "$regex", "$nor", "$not"}
RAW_HANDLES = frozenset({"coll", "collection"})


def violations(source: str, where: str) -> list[str]:
    """Every leak in one module's source, in line order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in OPERATORS:
            found.append((node.lineno, f"{where}:{node.lineno}: storage operator {node.value!r}"))
        elif isinstance(node, ast.Attribute) and node.attr in RAW_HANDLES:
            found.append((node.lineno, f"{where}:{node.lineno}: raw collection handle .{node.attr}"))
        elif isinstance(node, ast.Attribute) and node.attr == "repo":
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id == "self"):
                found.append((node.lineno, f"{where}:{node.lineno}: another area's repository ({ast.unparse(node)})"))
    return [text for _, text in sorted(found)]


def scan() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            found = violations(path.read_text(encoding="utf-8"), rel)
            if found:
                out[rel] = found
    return out


def test_no_storage_operator_outside_repositories() -> None:
    leaks = [line for lines in scan().values() for line in lines]
    assert not leaks, "storage language outside connectnow/repositories and connectnow/store:\n" + "\n".join(leaks)


def test_the_scanner_sees_each_kind_of_leak() -> None:
    source = """
async def f(self, ids):
    await self.reactions.delete({"channelId": {"$in": ids}})
    await self.store.collection("x").count({})
    span = {}
    span["$gte"] = 1
    await self.messages.log.repo.count({})
    await self.repo.count({})
    return self.jobs.coll
"""
    lines = violations(source, "f.py")
    assert [line.split(": ", 1)[0] for line in lines] == ["f.py:3", "f.py:4", "f.py:6", "f.py:7", "f.py:9"]
