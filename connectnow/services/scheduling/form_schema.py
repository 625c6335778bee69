"""Form schemas that can neither reach the network nor stall the event loop.

- References: only local JSON pointers (`#` or `#/...`), each resolvable, no loop and a bounded chain.
  The validator gets an empty `referencing.Registry`, so even a schema stored before this check can never
  make jsonschema retrieve a URL (its deprecated default fetched any `$ref` with urllib, on the loop).
- `pattern` runs on RE2 (linear time in the input, bounded memory) instead of Python's backtracking `re`;
  a pattern RE2 cannot compile (backreferences, look-around) is refused when the form is saved.
- `patternProperties` is refused: jsonschema matches it (and `additionalProperties` beside it) with `re`
  internally, and a form's fields are named in `properties` anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator
from referencing import Registry

MAX_REF_CHAIN = 8
MAX_DEPTH = 32  # nesting of objects and arrays, in a schema and in answers: jsonschema recurses per level
MAX_PATTERN_LENGTH = 1000
RE2_MAX_MEM = 1 << 20
# Keywords that would give a subschema its own base URI or a dynamic scope: refs would stop being local.
REFUSED_KEYWORDS = ("$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "patternProperties")
# Keywords whose values are data, not subschemas: a "$ref" key inside them is not a reference.
DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})

_NO_NETWORK = Registry()  # no `retrieve`: an unknown URI is Unresolvable, never fetched


class SchemaRefused(ValueError):
    """The schema uses a construct a form may not use; the message says which."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # refusals are answered to the client, not logged by absl
    options.max_mem = RE2_MAX_MEM
    return options


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise SchemaRefused(f"patterns are limited to {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        raise SchemaRefused(
            f"pattern {pattern[:60]!r} is not supported (RE2 syntax, no look-around or backreferences)"
        ) from exc


def _re2_pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        compiled = compile_pattern(pattern)
    except SchemaRefused as exc:
        yield ValidationError(str(exc))
        return
    if compiled.search(instance) is None:
        yield ValidationError("does not match the field's pattern")


FormValidator = validators.extend(Draft202012Validator, {"pattern": _re2_pattern})


def answer_validator(schema: dict[str, Any]) -> Validator:
    """A validator for answers that resolves only local references and matches patterns with RE2."""
    return FormValidator(schema, registry=_NO_NETWORK)


def nesting_depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value`, computed without recursion (the input may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _subschemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object in the schema that is a (sub)schema, with its JSON pointer."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key not in DATA_KEYWORDS:
                yield from _subschemas(value, f"{where}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subschemas(value, f"{where}/{index}")


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if ref != "#" and not ref.startswith("#/"):
        raise SchemaRefused(f"$ref {ref[:80]!r} is not a local reference: only '#' and '#/...' are allowed")
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else ():
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaRefused(f"$ref {ref[:80]!r} points at nothing in this schema")
    if not isinstance(node, dict | bool):
        raise SchemaRefused(f"$ref {ref[:80]!r} does not point at a schema")
    return node


def _refs_within(node: Any) -> set[str]:
    return {sub["$ref"] for _, sub in _subschemas(node) if isinstance(sub.get("$ref"), str)}


def check_schema_safety(schema: dict[str, Any]) -> list[str]:
    """What makes this schema unsafe to run: remote or dangling refs, ref loops, RE2-incompatible patterns."""
    try:
        for _, sub in _subschemas(schema):
            for keyword in REFUSED_KEYWORDS:
                if keyword in sub:
                    raise SchemaRefused(f"{keyword} is not allowed in a form schema")
            if "$ref" in sub and not isinstance(sub["$ref"], str):
                raise SchemaRefused("$ref must be a string")
            if isinstance(sub.get("pattern"), str):
                compile_pattern(sub["pattern"])
        depth: dict[str, int] = {}

        def chain(ref: str, path: tuple[str, ...]) -> int:
            """How many references deep this one leads; a loop or an over-long chain is refused."""
            if ref in path:
                raise SchemaRefused(f"$ref {ref[:80]!r} leads back to itself")
            if len(path) >= MAX_REF_CHAIN:
                raise SchemaRefused(f"$ref chains are limited to {MAX_REF_CHAIN} references")
            if ref not in depth:
                target = _resolve(schema, ref)
                depth[ref] = 1 + max((chain(r, (*path, ref)) for r in _refs_within(target)), default=0)
            if len(path) + depth[ref] > MAX_REF_CHAIN:
                raise SchemaRefused(f"$ref chains are limited to {MAX_REF_CHAIN} references")
            return depth[ref]

        for ref in _refs_within(schema):
            chain(ref, ())
    except SchemaRefused as exc:
        return [str(exc)]
    return []
