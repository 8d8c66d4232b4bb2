"""Rule kinds: each module holds one kind's option schema and its set-based SQL.

A rule in rules.yaml names its kind; the kind's model validates the rule's keys
and its `select()` returns one parameterised query yielding the alerts it would
raise. A new rule of an existing kind is a YAML edit.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from . import (household_all, household_ratio, household_stability, household_stopped, monthly_gap, new_event, sql,
               window_ratio, window_sum)
from .base import RuleBase

KINDS: dict[str, type[RuleBase]] = {
    m.Rule.model_fields["kind"].default: m.Rule
    for m in (window_sum, window_ratio, new_event, monthly_gap, household_all, household_ratio, household_stopped,
              household_stability, sql)
}


def validate_rules(raw_rules: list[Any], file: str, settings: Any) -> tuple[tuple[RuleBase, ...], list[str]]:
    """Typed rules and every problem found, each naming the rule and the key."""
    from ..config import describe_errors

    rules: list[RuleBase] = []
    problems: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rid = raw.get("id") if isinstance(raw, dict) else None
        where = f"rules[{i}]" + (f" (id: {rid})" if rid else "")
        if not isinstance(raw, dict):
            problems.append(f"{file}: {where}: 每条规则应为映射（键: 值）")
            continue
        kind = raw.get("kind")
        model = KINDS.get(kind)
        if model is None:
            problems.append(f"{file}: {where}.kind: 未知的规则类型 {kind!r}，可选：{', '.join(sorted(KINDS))}")
            continue
        try:
            rule = model.model_validate(raw)
        except ValidationError as e:
            problems.extend(describe_errors(e, file, where))
            continue
        if rule.id in seen:
            problems.append(f"{file}: {where}.id: 规则编号重复")
        seen.add(rule.id)
        if settings is not None:
            problems.extend(f"{file}: {where}.{p}" for p in dict.fromkeys(rule.check(settings)))
        rules.append(rule)
    return tuple(rules), problems
