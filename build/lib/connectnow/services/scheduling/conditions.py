"""Conditional logic of intake forms: small, explicit rules evaluated over the submitted answers.

A rule is `{"when": [{"field", "op", "value"}...], "match": "all"|"any", "then": {"require": [...],
"hide": [...]}}`. When it fires, the fields in `require` must be answered and those in `hide` must not be.
Field names must exist in the form's schema; that is checked when the form is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.scheduling_forms import ConditionalRule, ConditionOp


def _answered(answers: Mapping[str, Any], field: str) -> bool:
    value = answers.get(field)
    return value is not None and value != "" and value != []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def holds(op: ConditionOp, answers: Mapping[str, Any], field: str, expected: Any) -> bool:
    actual = answers.get(field)
    if op is ConditionOp.ANSWERED:
        return _answered(answers, field)
    if op is ConditionOp.NOT_ANSWERED:
        return not _answered(answers, field)
    if op is ConditionOp.EQUALS:
        return _answered(answers, field) and actual == expected
    if op is ConditionOp.NOT_EQUALS:
        return actual != expected
    if op in (ConditionOp.IN, ConditionOp.NOT_IN):
        inside = isinstance(expected, list) and actual in expected
        return inside if op is ConditionOp.IN else not inside
    a, b = _number(actual), _number(expected)
    if a is None or b is None:
        return False
    return a > b if op is ConditionOp.GREATER_THAN else a < b


def fires(rule: ConditionalRule, answers: Mapping[str, Any]) -> bool:
    results = (holds(c.op, answers, c.field, c.value) for c in rule.when)
    return all(results) if rule.match == "all" else any(results)


def violations(rules: list[ConditionalRule], answers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every broken rule, as {field, problem, rule index}; empty when the answers satisfy the logic."""
    found: list[dict[str, Any]] = []
    for index, rule in enumerate(rules):
        if not fires(rule, answers):
            continue
        for field in rule.then.require:
            if not _answered(answers, field):
                found.append({"field": field, "problem": "required", "rule": index})
        for field in rule.then.hide:
            if field in answers:
                found.append({"field": field, "problem": "notAllowed", "rule": index})
    return found


def referenced_fields(rules: list[ConditionalRule]) -> set[str]:
    names: set[str] = set()
    for rule in rules:
        names.update(c.field for c in rule.when)
        names.update(rule.then.require)
        names.update(rule.then.hide)
    return names
