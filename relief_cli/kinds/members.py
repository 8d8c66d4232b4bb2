"""SQL fragments about a household's members, shared by the household kinds.

A household is the 户 (hukou_no) of the population list valid on the scan date. Evidence
names each member by relation to the head and a masked name (first character only, as
every output masks names; the evidence is stored and shown without --show-pii); the
records themselves stay behind the alert's refs.
"""

from __future__ import annotations

from typing import Any

from .base import ScanContext, check_source


def died_on(ctx: ScanContext, id_expr: str) -> str:
    """The person's death date on or before the scan date, else NULL (needs :as_of)."""
    if "deaths" not in ctx.settings.sources:
        return "NULL"
    return f"(SELECT MIN(x.death_date) FROM {ctx.table('deaths')} x WHERE x.id_no = {id_expr} AND x.death_date <= :as_of)"


def living_members(ctx: ScanContext, hukou_expr: str) -> str:
    """How many members of the household are alive on the scan date."""
    return (f"(SELECT COUNT(*) FROM {ctx.table('population')} q "
            f"WHERE q.hukou_no = {hukou_expr} AND {died_on(ctx, 'q.id_no')} IS NULL)")


def member_label(ctx: ScanContext, alias: str) -> str:
    """'配偶 甄**', with '（已于 2026-10-01 死亡）' for a member who has died."""
    return (f"(COALESCE({alias}.relation, '成员') || ' ' || mask_name({alias}.name)"
            f" || COALESCE('（已于 ' || {died_on(ctx, alias + '.id_no')} || ' 死亡）', ''))")


def by_size(table: dict[int, float], default: float, size_expr: str, params: dict[str, Any], prefix: str = "sz") -> str:
    """A threshold in fen that depends on household size: the entry of the largest size not above
    the household's, else the default (sizes below the smallest entry)."""
    params[f"{prefix}_default"] = round(default * 100)
    if not table:
        return f":{prefix}_default"
    whens = []
    for i, (size, amount) in enumerate(sorted(table.items(), reverse=True)):
        params[f"{prefix}{i}"], params[f"{prefix}{i}_amount"] = size, round(amount * 100)
        whens.append(f"WHEN {size_expr} >= :{prefix}{i} THEN :{prefix}{i}_amount")
    return f"(CASE {' '.join(whens)} ELSE :{prefix}_default END)"


def check_monthly(settings: Any, source: str, period: str, value: str) -> list[str]:
    """The check of a household kind over monthly amounts: a period and an amount field, and the
    population list that makes members a household."""
    problems = check_source(settings, source, {"period": period, "value": value},
                            {"period": ("period",), "value": ("amount", "int")})
    if "population" not in settings.sources:
        problems.append("kind: 需要数据来源 population")
    return problems
