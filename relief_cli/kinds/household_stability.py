"""A household's monthly total that does not hold steady: it varies strongly or keeps stopping.

Over the last `months` months up to the latest period in the data, the household's monthly
total (each member's level that month, the highest record, added over members; a month
without any record is 0) has a coefficient of variation (standard deviation over mean) of at
least min_cv, or its members' records break off at least min_gaps separate times in all
(a member who works on and off shows in the count though the household's total varies
little). Months before the household's first record ever are left out, so that starting
work is not taken for instability; a household with fewer than min_months months to judge
is not judged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import RuleBase, ScanContext, Subject
from .common import month_index
from .members import check_monthly, member_label
from .shared import SharedTable, person_months, with_members


class Rule(RuleBase):
    kind: Literal["household_stability"] = "household_stability"
    source: str
    period: str
    value: str
    months: int = Field(12, ge=2, le=120)
    min_months: int = Field(6, ge=2, le=120)
    min_cv: float = Field(gt=0)
    min_gaps: int = Field(gt=0)
    measure: str = Field(min_length=1)

    @property
    def subject(self) -> Subject:
        return "household"

    def check(self, settings: Any) -> list[str]:
        return check_monthly(settings, self.source, self.period, self.value)

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        src, pop = ctx.table(self.source), ctx.table("population")
        p = f'r."{self.period}"'
        params = {"as_of": ctx.as_of, "month": ctx.as_of[:4] + ctx.as_of[5:7], "months": self.months,
                  "min_months": self.min_months, "cv": self.min_cv, "gaps": self.min_gaps, "measure": self.measure}

        def month_text(pos: str) -> str:
            return f"printf('%d年%02d月', ({pos}) / 12, ({pos}) % 12 + 1)"

        def period_of(pos: str) -> str:
            return f"printf('%04d%02d', ({pos}) / 12, ({pos}) % 12 + 1)"

        months, hi = self._months(ctx).name, f'"hi_{self.value}"'
        start = "(l.n - :months + 1)"
        window = f'o."{self.period}" BETWEEN {period_of("l.n - j.span + 1")} AND l.period'
        sql = f"""
        WITH l AS (SELECT MAX({p}) AS period, {month_index(f'MAX({p})')} AS n FROM {src} r WHERE {p} <= :month),
        nx AS (
            -- each month with a record and the next month with one: one ordered pass over the table, not a
            -- lookup (a server's hash of a province's 11 M months) per month
            SELECT m.id_no, m.hukou_no, m.pos, m.{hi} AS v, LEAD(m.pos) OVER (PARTITION BY m.id_no ORDER BY m.pos) AS next_pos
            FROM {months} m WHERE m.hukou_no IS NOT NULL
        ),
        pm AS (
            -- per member on the list: the first month ever, and in the window the months with a record,
            -- their mean, the first of them, and how many are followed by a month without one
            SELECT m.id_no, m.hukou_no, MIN(m.pos) AS first_pos,
                   COUNT(CASE WHEN m.pos >= {start} THEN 1 END) AS months,
                   AVG(CASE WHEN m.pos >= {start} THEN m.v END) AS avg_v,
                   MIN(CASE WHEN m.pos >= {start} THEN m.pos END) AS first_in,
                   SUM(CASE WHEN m.pos >= {start} AND m.pos < l.n AND (m.next_pos IS NULL OR m.next_pos > m.pos + 1)
                            THEN 1 ELSE 0 END) AS breaks
            FROM nx m, l GROUP BY m.id_no
        ), mg AS (
            -- a member's separate gaps: after a month with a record, one or more months without
            -- (up to the latest period), and a window that opens in a gap of someone who paid before
            SELECT pm.id_no, pm.hukou_no, pm.months, pm.avg_v,
                   pm.breaks + (pm.first_pos < {start} AND pm.first_in > {start}) AS gaps
            FROM pm, l WHERE pm.months > 0
        ), hm AS (
            SELECT m.hukou_no, m.pos, SUM(m.{hi}) AS total FROM {months} m, l
            WHERE m.hukou_no IS NOT NULL AND m.pos >= {start} GROUP BY m.hukou_no, m.pos
        ), hf AS (
            SELECT hukou_no, MIN(first_pos) AS first_pos FROM pm GROUP BY hukou_no
        ), stats AS (
            SELECT h.hukou_no, COUNT(*) AS paid, SUM(h.total) AS s, SUM(h.total * h.total) AS q,
                   MAX(h.total) AS hi, MIN(h.total) AS lo_paid, l.n - MAX(hf.first_pos, {start}) + 1 AS span
            FROM hm h JOIN hf ON hf.hukou_no = h.hukou_no, l GROUP BY h.hukou_no
        ), j AS (
            SELECT stats.*, g.gaps, s * 1.0 / span AS mean, q * 1.0 * span / (s * 1.0 * s) - 1 AS cv2
            FROM stats JOIN (SELECT hukou_no, SUM(gaps) AS gaps FROM mg GROUP BY hukou_no) g ON g.hukou_no = stats.hukou_no
            WHERE span >= :min_months
        ), hits AS (
            SELECT j.* FROM j WHERE j.cv2 >= :cv * :cv OR j.gaps >= :gaps
        ), shares AS (
            SELECT hukou_no, group_concat(who || ' ' || months || ' 个月有记录、中断 ' || gaps || ' 次、月均 ' || yuan(avg_v) || ' 元', '、') AS text
            FROM (SELECT mg.hukou_no, {member_label(ctx, 'q')} AS who, mg.months, mg.gaps, mg.avg_v
                  FROM hits JOIN mg ON mg.hukou_no = hits.hukou_no JOIN {pop} q ON q.id_no = mg.id_no
                  ORDER BY mg.hukou_no, mg.months DESC, q._id)
            GROUP BY hukou_no
        )
        SELECT j.hukou_no AS subject_key, l.period AS period,
               '近 ' || j.span || ' 个月（' || {month_text('l.n - j.span + 1')} || '至' || {month_text('l.n')} || '）全户每月'
                 || :measure || '合计平均 ' || yuan(j.mean) || ' 元，最低 '
                 || yuan(CASE WHEN j.paid < j.span THEN 0 ELSE j.lo_paid END) || ' 元、最高 ' || yuan(j.hi)
                 || ' 元，变异系数 ' || printf('%.2f', sqrt(MAX(COALESCE(j.cv2, 0), 0))) || '（阈值 ' || :cv
                 || '），成员缴费中断共 ' || j.gaps || ' 次（阈值 ' || :gaps || ' 次）；各成员：' || sh.text AS evidence,
               (SELECT json_group_array(json_object('source', '{self.source}', 'id', o._id, 'file', o._file,
                                                    'sheet', o._sheet, 'row', o._row))
                FROM {pop} q JOIN {src} o ON o.id_no = q.id_no WHERE q.hukou_no = j.hukou_no AND {window}) AS refs
        FROM hits j JOIN shares sh ON sh.hukou_no = j.hukou_no, l
        """
        return sql, params

    def shared(self, ctx: ScanContext) -> tuple[SharedTable, ...]:
        return with_members(ctx, self._months(ctx))

    def _months(self, ctx: ScanContext) -> SharedTable:
        return person_months(ctx, self.source, self.period)
