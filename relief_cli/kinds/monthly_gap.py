"""Monthly records that stopped: no record for N months up to the latest period in the data."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import RuleBase, ScanContext, check_source, refs_sql
from .common import month_index
from .shared import SharedTable, person_months, with_members


class Rule(RuleBase):
    kind: Literal["monthly_gap"] = "monthly_gap"
    source: str
    period: str
    min_gap_months: int = Field(gt=0)
    min_paid_months: int = Field(0, ge=0)
    measure: str = Field(min_length=1)

    def check(self, settings: Any) -> list[str]:
        return check_source(settings, self.source, {"period": self.period}, {"period": ("period",)})

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        p = f'r."{self.period}"'
        params = {"month": ctx.as_of[:4] + ctx.as_of[5:7], "gap": self.min_gap_months,
                  "paid": self.min_paid_months, "measure": self.measure}
        sql = f"""
        WITH latest AS (SELECT MAX({p}) AS period FROM {ctx.table(self.source)} r WHERE {p} <= :month),
        per AS (
            SELECT id_no, MAX(period) AS last_paid, COUNT(*) AS paid FROM {self._months(ctx).name} GROUP BY id_no
        ), hits AS (
            SELECT per.*, latest.period AS latest,
                   {month_index('latest.period')} - {month_index('per.last_paid')} AS gap
            FROM per, latest
            WHERE paid >= :paid AND {month_index('latest.period')} - {month_index('per.last_paid')} >= :gap
        )
        SELECT h.id_no AS subject_key, h.last_paid AS period,
               '最近一次' || :measure || '为 ' || substr(h.last_paid, 1, 4) || '年' || substr(h.last_paid, 5, 2)
                 || '月，至数据最新月份 ' || substr(h.latest, 1, 4) || '年' || substr(h.latest, 5, 2) || '月已连续 '
                 || h.gap || ' 个月没有记录（阈值 ' || :gap || ' 个月）；此前共 ' || h.paid || ' 个月有记录' AS evidence,
               {refs_sql(self.source)} AS refs
        FROM hits h JOIN {ctx.table(self.source)} r ON r.id_no = h.id_no AND {p} = h.last_paid
        GROUP BY h.id_no
        """
        return sql, params

    def shared(self, ctx: ScanContext) -> tuple[SharedTable, ...]:
        return with_members(ctx, self._months(ctx))

    def _months(self, ctx: ScanContext) -> SharedTable:
        return person_months(ctx, self.source, self.period)
