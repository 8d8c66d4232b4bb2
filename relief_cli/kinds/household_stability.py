"""A household's monthly total that does not hold steady: it varies strongly or keeps stopping.

Over the last `months` months up to the latest period in the data, the household's monthly
total (each member's level that month, the highest record, added over members; a month
without any record is 0) has a coefficient of variation (standard deviation over mean) of at
least min_cv, or breaks off at least min_gaps separate times. Months before the household's
first record ever are left out, so that starting work is not taken for instability; a
household with fewer than min_months months to judge is not judged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import RuleBase, ScanContext, Subject, check_source
from .common import month_index
from .members import member_label


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
        problems = check_source(settings, self.source, {"period": self.period, "value": self.value},
                                {"period": ("period",), "value": ("amount", "int")})
        if "population" not in settings.sources:
            problems.append("kind: 需要数据来源 population")
        return problems

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        src, pop = ctx.table(self.source), ctx.table("population")
        p = f'r."{self.period}"'
        params = {"as_of": ctx.as_of, "month": ctx.as_of[:4] + ctx.as_of[5:7], "months": self.months,
                  "min_months": self.min_months, "cv": self.min_cv, "gaps": self.min_gaps, "measure": self.measure}

        def month_text(pos: str) -> str:
            return f"printf('%d年%02d月', ({pos}) / 12, ({pos}) % 12 + 1)"

        def period_of(pos: str) -> str:
            return f"printf('%04d%02d', ({pos}) / 12, ({pos}) % 12 + 1)"

        start = "(l.n - :months + 1)"
        window = f'o."{self.period}" BETWEEN {period_of("l.n - j.span + 1")} AND l.period'
        sql = f"""
        WITH l AS (SELECT MAX({p}) AS period, {month_index(f'MAX({p})')} AS n FROM {src} r WHERE {p} <= :month),
        pm AS (
            SELECT r.id_no, {month_index(p)} AS pos, MAX(r."{self.value}") AS v
            FROM {src} r NOT INDEXED WHERE {p} <= :month GROUP BY r.id_no, {p}
        ), mem AS (
            SELECT m.hukou_no, pm.pos, pm.v FROM pm JOIN {pop} m ON m.id_no = pm.id_no
        ), hf AS (
            SELECT hukou_no, MIN(pos) AS first_pos FROM mem GROUP BY hukou_no
        ), hm AS (
            SELECT mem.hukou_no, mem.pos, SUM(mem.v) AS total FROM mem, l WHERE mem.pos >= {start} GROUP BY mem.hukou_no, mem.pos
        ), runs AS (
            SELECT hm.*, LEAD(hm.pos) OVER (PARTITION BY hm.hukou_no ORDER BY hm.pos) AS next_pos FROM hm
        ), stats AS (
            SELECT r.hukou_no, COUNT(*) AS paid, SUM(r.total) AS s, SUM(r.total * r.total) AS q,
                   MAX(r.total) AS hi, MIN(r.total) AS lo_paid,
                   l.n - MAX(hf.first_pos, {start}) + 1 AS span,
                   SUM(CASE WHEN r.next_pos IS NULL THEN r.pos < l.n ELSE r.next_pos > r.pos + 1 END)
                     + (hf.first_pos < {start} AND MIN(r.pos) > {start}) AS gaps
            FROM runs r JOIN hf ON hf.hukou_no = r.hukou_no, l GROUP BY r.hukou_no
        ), j AS (
            SELECT stats.*, s * 1.0 / span AS mean, q * 1.0 * span / (s * 1.0 * s) - 1 AS cv2
            FROM stats WHERE span >= :min_months
        )
        SELECT j.hukou_no AS subject_key, l.period AS period,
               '近 ' || j.span || ' 个月（' || {month_text('l.n - j.span + 1')} || '至' || {month_text('l.n')} || '）全户每月'
                 || :measure || '合计平均 ' || yuan(j.mean) || ' 元，最低 '
                 || yuan(CASE WHEN j.paid < j.span THEN 0 ELSE j.lo_paid END) || ' 元、最高 ' || yuan(j.hi)
                 || ' 元，变异系数 ' || printf('%.2f', sqrt(MAX(COALESCE(j.cv2, 0), 0))) || '（阈值 ' || :cv
                 || '），中断 ' || j.gaps || ' 次（阈值 ' || :gaps || ' 次）；各成员：' || (
                   SELECT group_concat(who || ' ' || n || ' 个月有记录、月均 ' || yuan(avg_v) || ' 元', '、')
                   FROM (SELECT {member_label(ctx, 'q')} AS who, COUNT(*) AS n, AVG(q.v) AS avg_v
                         FROM (SELECT q.id_no, q.relation, q.name, q._id, MAX(o."{self.value}") AS v
                               FROM {pop} q JOIN {src} o ON o.id_no = q.id_no
                               WHERE q.hukou_no = j.hukou_no AND {window} GROUP BY q.id_no, o."{self.period}") q
                         GROUP BY q.id_no ORDER BY n DESC, q._id)) AS evidence,
               (SELECT json_group_array(json_object('source', '{self.source}', 'id', o._id, 'file', o._file,
                                                    'sheet', o._sheet, 'row', o._row))
                FROM {pop} q JOIN {src} o ON o.id_no = q.id_no WHERE q.hukou_no = j.hukou_no AND {window}) AS refs
        FROM j, l
        WHERE j.cv2 >= :cv * :cv OR j.gaps >= :gaps
        """
        return sql, params
