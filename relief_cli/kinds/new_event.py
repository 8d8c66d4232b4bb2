"""A record dated within the last N days (the scan date counts as day 1), with filters."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from .base import RuleBase, ScanContext, Subject, check_source, refs_sql
from .common import age_at, where_sql


class Rule(RuleBase):
    kind: Literal["new_event"] = "new_event"
    source: str
    date: str
    days: int = Field(gt=0, le=3660)
    event: str = Field(min_length=1)
    describe: tuple[str, ...] = ()
    where: dict[str, tuple[Any, ...]] = {}
    age_at_event: tuple[int, int] | None = None
    categories: tuple[str, ...] = ()
    for_household: bool = False

    @property
    def subject(self) -> Subject:
        return "household" if self.for_household else "person"

    def check(self, settings: Any) -> list[str]:
        problems = check_source(settings, self.source, {"date": self.date}, {"date": ("date",)})
        problems += check_source(settings, self.source, {f"where.{k}": k for k in self.where})
        problems += check_source(settings, self.source, {f"describe[{i}]": k for i, k in enumerate(self.describe)})
        known = {c.name for c in settings.categories} | {settings.default_category}
        problems += [f"categories: 未定义的救助类别 {c}" for c in self.categories if c not in known]
        return problems

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"as_of": ctx.as_of, "days": f"-{self.days - 1} days", "event": self.event}
        d = f'r."{self.date}"'
        filters = where_sql(self.where, "r", params)
        if self.age_at_event:
            params["age_lo"], params["age_hi"] = self.age_at_event
            filters += f" AND {age_at('r.id_no', d)} BETWEEN :age_lo AND :age_hi"
        if self.categories:
            params["cats"] = json.dumps(list(self.categories), ensure_ascii=False)
            filters += (" AND COALESCE(p.category, :default_category) IN (SELECT value FROM json_each(:cats))")
        params["default_category"] = ctx.settings.default_category
        spec = ctx.settings.sources[self.source]
        details = []
        for f in self.describe:
            expr = f'COALESCE(r."{f}", \'\')'
            details.append(f"{expr} || '级'" if spec.fields[f].type == "grade" else expr)
        detail = " || ' ' || ".join(details) if details else "''"
        age = f"'（' || {age_at('r.id_no', d)} || '岁）'" if self.age_at_event else "''"
        subject = "COALESCE(pop.hukou_no, r.id_no)" if self.for_household else "r.id_no"
        sql = f"""
        SELECT {subject} AS subject_key, r._key AS period,
               {d} || ' ' || :event || CASE WHEN {detail} = '' THEN '' ELSE '：' || {detail} END || {age} AS evidence,
               {refs_sql(self.source)} AS refs
        FROM {ctx.table(self.source)} r LEFT JOIN _person p ON p.id_no = r.id_no
        LEFT JOIN {ctx.table("population")} pop ON pop.id_no = r.id_no
        WHERE {d} <= :as_of AND {d} >= date(:as_of, :days) {filters}
        GROUP BY r._id, pop.hukou_no
        """
        return sql, params
