"""A working-age member's monthly records stopped and no other member's started (income lost).

Stopped: no record for min_gap_months up to the latest period in the data, after at least
min_paid_months with one. Started: another member of the household has a record after the
stopped member's last month and had none in that month. Age is taken on the first month
without a record, so a member who reached retirement age is not taken for one who lost work.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import RuleBase, ScanContext, Subject
from .common import age_at, month_index
from .members import check_monthly, member_label
from .shared import SharedTable, person_months, with_members


class Rule(RuleBase):
    kind: Literal["household_stopped"] = "household_stopped"
    source: str
    period: str
    value: str
    min_gap_months: int = Field(gt=0)
    min_paid_months: int = Field(0, ge=0)
    age: tuple[int, int] = (16, 59)
    measure: str = Field(min_length=1)

    @property
    def subject(self) -> Subject:
        return "household"

    @model_validator(mode="after")
    def _age_range(self) -> Rule:
        if not 0 <= self.age[0] <= self.age[1] <= 150:
            raise ValueError("age 应为 [最小年龄, 最大年龄]，如 [16, 59]")
        return self

    def check(self, settings: Any) -> list[str]:
        return check_monthly(settings, self.source, self.period, self.value)

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        src, pop = ctx.table(self.source), ctx.table("population")
        p = f'r."{self.period}"'
        params = {"as_of": ctx.as_of, "month": ctx.as_of[:4] + ctx.as_of[5:7], "gap": self.min_gap_months,
                  "paid": self.min_paid_months, "age_lo": self.age[0], "age_hi": self.age[1], "measure": self.measure}
        first_unpaid = "date(substr(per.last_paid, 1, 4) || '-' || substr(per.last_paid, 5, 2) || '-01', '+1 month')"

        def month_text(expr: str) -> str:
            return f"substr({expr}, 1, 4) || '年' || substr({expr}, 5, 2) || '月'"

        months = self._months(ctx).name
        last_of = f"(SELECT MAX(o.period) FROM {months} o WHERE o.id_no = q.id_no)"
        sql = f"""
        WITH latest AS (SELECT MAX({p}) AS period FROM {src} r WHERE {p} <= :month),
        per AS (
            SELECT id_no, MAX(period) AS last_paid, COUNT(*) AS paid FROM {months} GROUP BY id_no
        ), stopped AS (
            SELECT m.hukou_no, m.id_no, m.relation, m.name, per.last_paid, per.paid, latest.period AS latest,
                   {month_index('latest.period')} - {month_index('per.last_paid')} AS gap,
                   {age_at('m.id_no', first_unpaid)} AS age
            FROM per JOIN {pop} m ON m.id_no = per.id_no, latest
            WHERE per.paid >= :paid AND {month_index('latest.period')} - {month_index('per.last_paid')} >= :gap
              AND {age_at('m.id_no', first_unpaid)} BETWEEN :age_lo AND :age_hi
              AND NOT EXISTS (
                  SELECT 1 FROM {pop} q JOIN {months} o ON o.id_no = q.id_no
                  WHERE q.hukou_no = m.hukou_no AND q.id_no != m.id_no AND o.period > per.last_paid
                    AND NOT EXISTS (SELECT 1 FROM {months} o2 WHERE o2.id_no = q.id_no AND o2.period = per.last_paid))
        ), refs AS (
            -- each group's records in one join (a lookup of the group in `stopped` per group grows with
            -- the square of a province's stopped earners)
            SELECT x.hukou_no, x.last_paid,
                   json_group_array(json_object('source', '{self.source}', 'id', r._id, 'file', r._file,
                                                'sheet', r._sheet, 'row', r._row)) AS refs
            FROM stopped x JOIN {src} r ON r.id_no = x.id_no AND {p} = x.last_paid
            GROUP BY x.hukou_no, x.last_paid
        ), grouped AS (
            SELECT st.hukou_no AS subject_key, st.last_paid AS period,
                   group_concat({member_label(ctx, 'st')} || '（' || st.age || '岁）', '、')
                     || '最近一次' || :measure || '为 ' || {month_text('st.last_paid')} || '，至数据最新月份 '
                     || {month_text('st.latest')} || '已连续 ' || st.gap || ' 个月没有记录（阈值 ' || :gap
                     || ' 个月），家中没有其他成员开始缴费；各成员：' || (
                       SELECT group_concat(who || CASE WHEN last IS NULL THEN ' 无记录'
                           ELSE ' 最近 ' || {month_text('last')} || ' 基数 ' || yuan(base) || ' 元' END, '、')
                       FROM (SELECT {member_label(ctx, 'q')} AS who, {last_of} AS last,
                                    (SELECT o."hi_{self.value}" FROM {months} o WHERE o.id_no = q.id_no AND o.period = {last_of}) AS base
                             FROM {pop} q WHERE q.hukou_no = st.hukou_no ORDER BY last DESC, q._id)) AS evidence
            FROM stopped st GROUP BY st.hukou_no, st.last_paid
        )
        SELECT g.subject_key, g.period, g.evidence, COALESCE(rf.refs, '[]') AS refs
        FROM grouped g LEFT JOIN refs rf ON rf.hukou_no = g.subject_key AND rf.last_paid = g.period
        """
        return sql, params

    def shared(self, ctx: ScanContext) -> tuple[SharedTable, ...]:
        return with_members(ctx, self._months(ctx))

    def _months(self, ctx: ScanContext) -> SharedTable:
        return person_months(ctx, self.source, self.period)
