"""A change between a recent window and the window before it (surge or drop).

unit 'day' windows end on the scan date and compare sums per day (spending);
unit 'month' windows end on the latest period present in the data and compare
monthly means (a contribution base is a level, not a flow).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import RuleBase, ScanContext, check_source, refs_sql
from .common import month_index, where_sql
from .shared import SharedTable, day_window_totals, person_months, with_members


class Rule(RuleBase):
    kind: Literal["window_ratio"] = "window_ratio"
    source: str
    value: str
    date: str
    unit: Literal["day", "month"] = "day"
    recent: int = Field(gt=0)
    baseline: int = Field(gt=0)
    min_ratio: float | None = Field(None, gt=0)
    max_ratio: float | None = Field(None, gt=0, lt=1)
    min_recent: float = 0
    measure: str = Field(min_length=1)
    where: dict[str, tuple[Any, ...]] = {}

    @model_validator(mode="after")
    def _one_direction(self) -> Rule:
        if (self.min_ratio is None) == (self.max_ratio is None):
            raise ValueError("min_ratio（骤增）与 max_ratio（骤减）须且只能设置一个")
        return self

    def check(self, settings: Any) -> list[str]:
        date_type = ("date",) if self.unit == "day" else ("period",)
        return check_source(settings, self.source, {"value": self.value, "date": self.date},
                            {"value": ("amount", "int"), "date": date_type}) + check_source(
            settings, self.source, {f"where.{k}": k for k in self.where})

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {
            "as_of": ctx.as_of, "recent": self.recent, "baseline": self.baseline,
            "min_recent": round(self.min_recent * 100), "measure": self.measure,
            "ratio": self.min_ratio if self.min_ratio is not None else self.max_ratio,
        }
        filters = where_sql(self.where, "r", params)
        d = f'r."{self.date}"'
        if self.unit == "day":
            unit_label = "天"
            params["period"] = ctx.as_of[:7]
            anchor = "SELECT julianday(:as_of) AS n, :period AS period"
            pos = f"julianday({d})"
            bound = f"{d} <= :as_of"
        else:
            unit_label = "个月"
            anchor = (f"SELECT {month_index('MAX(p)')} AS n, MAX(p) AS period FROM "
                      f"(SELECT r.\"{self.date}\" AS p FROM {ctx.table(self.source)} r WHERE r.\"{self.date}\" <= :month)")
            params["month"] = ctx.as_of[:4] + ctx.as_of[5:7]
            pos = month_index(d)
            bound = f"{d} <= :month"
        if self.min_ratio is not None:
            test = "recent_rate * :recent >= :min_recent AND recent_rate >= :ratio * COALESCE(base_rate, 0)"
            sentence = ("'近' || :recent || :unit || :measure || ' ' || yuan(recent_rate * :recent) || ' 元，'"
                        " || CASE WHEN COALESCE(base_rate, 0) = 0 THEN '此前' || :baseline || :unit || '为 0 元'"
                        " ELSE '为此前' || :baseline || :unit || '平均每' || :recent || :unit || ' '"
                        " || yuan(base_rate * :recent) || ' 元的 ' || printf('%.1f', recent_rate / base_rate) || ' 倍' END"
                        " || '（阈值 ' || :ratio || ' 倍，且不低于 ' || yuan(:min_recent) || ' 元）'")
            if self.unit == "month":
                test = "recent_rate >= :min_recent AND recent_rate >= :ratio * COALESCE(base_rate, 0)"
        else:
            test = "base_rate > 0 AND recent_rate <= :ratio * base_rate AND recent_rate >= :min_recent"
            sentence = ("'最近 ' || :recent || ' ' || :unit || :measure || ' ' || yuan(recent_rate) || ' 元，比此前 ' || :baseline"
                        " || ' ' || :unit || '的 ' || yuan(base_rate) || ' 元下降 ' || printf('%.0f', (1 - recent_rate / base_rate) * 100)"
                        " || '%（阈值 ' || printf('%.0f', (1 - :ratio) * 100) || '%）'")
        params["unit"] = unit_label
        if self.unit == "day":
            per = f"""SELECT id_no, recent_sum * 1.0 / :recent AS recent_rate, base_sum * 1.0 / :baseline AS base_rate,
                             a.period AS period FROM {self._per_person(ctx).name}, a"""
        else:
            # The mean of the records in each window (not of monthly levels): AVG of integers is
            # their sum over their count, so the months' sums and counts give the same double.
            t, n = f'u."total_{self.value}"', f'u."n_{self.value}"'
            per = f"""SELECT u.id_no, SUM(CASE WHEN u.pos > a.n - :recent THEN {t} END) * 1.0
                               / SUM(CASE WHEN u.pos > a.n - :recent THEN {n} END) AS recent_rate,
                             SUM(CASE WHEN u.pos <= a.n - :recent THEN {t} END) * 1.0
                               / SUM(CASE WHEN u.pos <= a.n - :recent THEN {n} END) AS base_rate,
                             a.period AS period
                      FROM {self._per_person(ctx).name} u, a WHERE u.pos > a.n - :recent - :baseline GROUP BY u.id_no"""
        sql = f"""
        WITH a AS ({anchor}),
        per AS ({per})
        SELECT per.id_no AS subject_key, per.period, {sentence} AS evidence,
               (SELECT {refs_sql(self.source)} FROM {ctx.table(self.source)} r, a
                WHERE r.id_no = per.id_no AND {bound} AND {pos} > a.n - :recent - :baseline {filters}) AS refs
        FROM per WHERE recent_rate IS NOT NULL AND {test}
        """
        return sql, params

    def shared(self, ctx: ScanContext) -> tuple[SharedTable, ...]:
        return with_members(ctx, self._per_person(ctx))

    def _per_person(self, ctx: ScanContext) -> SharedTable:
        if self.unit == "day":
            return day_window_totals(ctx, self.source, self.date, self.value, self.recent, self.baseline, self.where)
        return person_months(ctx, self.source, self.date, self.where)
