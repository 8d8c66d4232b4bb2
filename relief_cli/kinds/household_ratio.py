"""A household's recent total against its own earlier level: spending surge, income drop.

The members' records are added up per household (the 户 of the population list on the
scan date). unit 'day' windows end on the scan date and compare sums per day, as
window_ratio does for one person; unit 'month' windows end on the latest period in the
data and compare the household's monthly total (each member's level that month, the
highest record, added over members), averaged over the months the source has data for,
so a member who stopped counts as 0.

The absolute threshold (min_recent) can depend on household size (min_recent_by_size)
and can apply per living member (per_capita).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import RuleBase, ScanContext, Subject, check_source, refs_sql
from .common import month_index, where_sql
from .members import by_size, living_members, member_label
from .shared import SharedTable, day_window_totals, person_months, with_members


class Rule(RuleBase):
    kind: Literal["household_ratio"] = "household_ratio"
    source: str
    value: str
    date: str
    unit: Literal["day", "month"] = "day"
    recent: int = Field(gt=0)
    baseline: int = Field(gt=0)
    min_ratio: float | None = Field(None, gt=0)
    max_ratio: float | None = Field(None, gt=0, lt=1)
    min_recent: float = Field(0, ge=0)
    # household size -> min_recent for households of that size or larger (up to the next entry)
    min_recent_by_size: dict[int, float] = {}
    per_capita: bool = False
    measure: str = Field(min_length=1)
    where: dict[str, tuple[Any, ...]] = {}

    @property
    def subject(self) -> Subject:
        return "household"

    @field_validator("min_recent_by_size")
    @classmethod
    def _sizes(cls, v: dict[int, float]) -> dict[int, float]:
        if any(size < 1 or amount < 0 for size, amount in v.items()):
            raise ValueError("min_recent_by_size 的键是户人数（≥ 1），值是金额（≥ 0）")
        return v

    @model_validator(mode="after")
    def _one_direction(self) -> Rule:
        if (self.min_ratio is None) == (self.max_ratio is None):
            raise ValueError("min_ratio（骤增）与 max_ratio（骤减）须且只能设置一个")
        return self

    def check(self, settings: Any) -> list[str]:
        date_type = ("date",) if self.unit == "day" else ("period",)
        problems = check_source(settings, self.source, {"value": self.value, "date": self.date},
                                {"value": ("amount", "int"), "date": date_type})
        problems += check_source(settings, self.source, {f"where.{k}": k for k in self.where})
        if "population" not in settings.sources:
            problems.append("kind: 需要数据来源 population")
        return problems

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        surge = self.min_ratio is not None
        params: dict[str, Any] = {
            "as_of": ctx.as_of, "month": ctx.as_of[:4] + ctx.as_of[5:7], "recent": self.recent,
            "baseline": self.baseline, "measure": self.measure,
            "ratio": self.min_ratio if surge else self.max_ratio, "per_capita": bool(self.per_capita),
            "by_size": bool(self.min_recent_by_size),
        }
        filters = where_sql(self.where, "r", params)
        src, pop = ctx.table(self.source), ctx.table("population")
        d = f'r."{self.date}"'
        if self.unit == "day":
            params["period"] = ctx.as_of[:7]
            anchor = "SELECT julianday(:as_of) AS n, :period AS period"
            pos, bound = f"julianday({d})", f"{d} <= :as_of"
            per = f"SELECT id_no, hukou_no, recent_sum, base_sum FROM {self._per_person(ctx).name}"
            spans = "SELECT :recent AS recent_n, :baseline AS base_n"
            params["recent_phrase"] = f"近{self.recent}天"
            params["base_phrase"] = f"此前{self.baseline}天平均每{self.recent}天"
            params["base_span"] = f"{self.baseline}天"
            params["member_phrase"] = f"各成员近{self.recent}天（此前平均每{self.recent}天）"
        else:
            anchor = (f'SELECT {month_index("MAX(p)")} AS n, MAX(p) AS period FROM '
                      f'(SELECT r."{self.date}" AS p FROM {src} r WHERE r."{self.date}" <= :month)')
            pos, bound = month_index(d), f"{d} <= :month"
            # a contribution base is a level: one value per person and month, whatever the insurance types
            units = f"{self._per_person(ctx).name} u, a WHERE u.pos > a.n - :recent - :baseline"
            v = f'u."hi_{self.value}"'
            per = f"""SELECT u.id_no, u.hukou_no, SUM(CASE WHEN u.pos > a.n - :recent THEN {v} END) AS recent_sum,
                   SUM(CASE WHEN u.pos <= a.n - :recent THEN {v} END) AS base_sum
            FROM {units} GROUP BY u.id_no"""
            spans = ("SELECT COUNT(DISTINCT CASE WHEN u.pos > a.n - :recent THEN u.pos END) AS recent_n,"
                     f" COUNT(DISTINCT CASE WHEN u.pos <= a.n - :recent THEN u.pos END) AS base_n FROM {units}")
            params["recent_phrase"] = f"最近 {self.recent} 个月平均每月"
            params["base_phrase"] = f"此前 {self.baseline} 个月平均每月"
            params["base_span"] = f" {self.baseline} 个月"
            params["member_phrase"] = f"各成员最近 {self.recent} 个月月均（此前月均）"
        # Both amounts in the recent window's terms: a sum over the recent days, or a monthly mean.
        if self.unit == "day":
            recent_amt, base_amt = "recent_sum", "base_sum * 1.0 * :recent / :baseline"
        else:
            recent_amt = "COALESCE(recent_sum, 0) * 1.0 / NULLIF(s.recent_n, 0)"
            base_amt = "base_sum * 1.0 / NULLIF(s.base_n, 0)"
        if surge:
            candidate = "recent_amt > 0 AND recent_amt >= :ratio * COALESCE(base_amt, 0)"
        else:
            candidate = "base_amt > 0 AND COALESCE(recent_amt, 0) <= :ratio * base_amt"
        compared = "COALESCE(c.recent_amt, 0) * 1.0 / (CASE WHEN :per_capita THEN MAX(c.size, 1) ELSE 1 END)"
        threshold = by_size(self.min_recent_by_size, self.min_recent, "c.size", params)
        threshold_text = ("CASE WHEN :per_capita THEN '人均' ELSE '' END || '不低于 ' || yuan(j.threshold) || ' 元'"
                          " || CASE WHEN :by_size THEN '，按 ' || j.size || ' 人户' ELSE '' END")
        if surge:
            sentence = ("'全户 ' || j.size || ' 人' || :recent_phrase || :measure || ' ' || yuan(j.recent_amt) || ' 元，'"
                        " || CASE WHEN COALESCE(j.base_amt, 0) = 0 THEN '此前' || :base_span || '为 0 元'"
                        " ELSE '为' || :base_phrase || ' ' || yuan(j.base_amt) || ' 元的 ' || printf('%.1f', j.recent_amt / j.base_amt) || ' 倍' END"
                        f" || '（阈值 ' || :ratio || ' 倍，且' || {threshold_text} || '）'")
        else:
            sentence = ("'全户 ' || j.size || ' 人' || :recent_phrase || :measure || ' ' || yuan(COALESCE(j.recent_amt, 0)) || ' 元，比'"
                        " || :base_phrase || ' ' || yuan(j.base_amt) || ' 元下降 '"
                        " || printf('%.0f', (1 - COALESCE(j.recent_amt, 0) / j.base_amt) * 100)"
                        " || '%（阈值 ' || printf('%.0f', (1 - :ratio) * 100) || '%'"
                        f" || CASE WHEN j.threshold > 0 THEN '，且' || {threshold_text} ELSE '' END || '）'")
        sql = f"""
        WITH a AS ({anchor}),
        s AS ({spans}),
        per AS ({per}),
        mem AS (
            SELECT per.hukou_no, per.id_no, {recent_amt} AS recent_amt, {base_amt} AS base_amt
            FROM per, s WHERE per.hukou_no IS NOT NULL
        ), hh AS (
            SELECT hukou_no, SUM(recent_amt) AS recent_amt, SUM(base_amt) AS base_amt FROM mem GROUP BY hukou_no
        ), cand AS (
            SELECT hh.*, {living_members(ctx, 'hh.hukou_no')} AS size FROM hh WHERE {candidate}
        ), judged AS (
            SELECT c.*, {compared} AS compared, {threshold} AS threshold FROM cand c
        ), hits AS (
            SELECT * FROM judged j WHERE j.compared >= j.threshold
        ), shares AS (
            SELECT hukou_no, group_concat(who || ' ' || yuan(COALESCE(recent_amt, 0)) || ' 元（'
                                          || yuan(COALESCE(base_amt, 0)) || ' 元）', '、') AS text
            FROM (SELECT mm.hukou_no, {member_label(ctx, 'q')} AS who, mm.recent_amt, mm.base_amt
                  FROM mem mm JOIN {pop} q ON q.id_no = mm.id_no WHERE mm.hukou_no IN (SELECT hukou_no FROM hits)
                  ORDER BY mm.hukou_no, COALESCE(mm.recent_amt, 0) DESC, mm.id_no)
            GROUP BY hukou_no
        )
        SELECT j.hukou_no AS subject_key, a.period AS period,
               {sentence} || '；' || :member_phrase || '：' || sh.text AS evidence,
               (SELECT {refs_sql(self.source)} FROM {pop} m JOIN {src} r ON r.id_no = m.id_no, a
                WHERE m.hukou_no = j.hukou_no AND {bound} AND {pos} > a.n - :recent - :baseline {filters}) AS refs
        FROM shares sh JOIN hits j ON j.hukou_no = sh.hukou_no, a
        """
        return sql, params

    def shared(self, ctx: ScanContext) -> tuple[SharedTable, ...]:
        return with_members(ctx, self._per_person(ctx))

    def _per_person(self, ctx: ScanContext) -> SharedTable:
        if self.unit == "day":
            return day_window_totals(ctx, self.source, self.date, self.value, self.recent, self.baseline, self.where)
        return person_months(ctx, self.source, self.date, self.where)
