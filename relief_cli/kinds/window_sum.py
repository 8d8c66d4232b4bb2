"""A sum over the calendar year against a threshold that depends on the person's category."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from .base import RuleBase, ScanContext, check_source, refs_sql
from .common import where_sql


class Rule(RuleBase):
    kind: Literal["window_sum"] = "window_sum"
    source: str
    amount: str
    date: str
    window: Literal["calendar_year"] = "calendar_year"
    measure: str = Field(min_length=1)
    thresholds: dict[str, float] = {}
    default_threshold: float = Field(gt=0)
    where: dict[str, tuple[Any, ...]] = {}

    def check(self, settings: Any) -> list[str]:
        problems = check_source(settings, self.source, {"amount": self.amount, "date": self.date},
                                {"amount": ("amount",), "date": ("date",)})
        problems += check_source(settings, self.source, {f"where.{k}": k for k in self.where})
        known = {c.name for c in settings.categories}
        problems += [f"thresholds.{k}: 未定义的救助类别" for k in self.thresholds if k not in known]
        return problems

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        year = ctx.as_of[:4]
        params: dict[str, Any] = {
            "start": f"{year}-01-01",
            "as_of": ctx.as_of,
            "year": year,
            "measure": self.measure,
            "thresholds": json.dumps({k: round(v * 100) for k, v in self.thresholds.items()}, ensure_ascii=False),
            "default": round(self.default_threshold * 100),
            "default_category": ctx.settings.default_category,
        }
        filters = where_sql(self.where, "r", params)
        # Totals for everyone, references (file, sheet, row) only for the few who are over.
        sql = f"""
        WITH th AS (SELECT key AS category, CAST(value AS INTEGER) AS threshold FROM json_each(:thresholds)),
        totals AS (
            SELECT r.id_no, SUM(r."{self.amount}") AS total
            FROM {ctx.table(self.source)} r NOT INDEXED
            WHERE r."{self.date}" BETWEEN :start AND :as_of {filters}
            GROUP BY r.id_no
        ), hits AS (
            SELECT t.id_no, t.total, COALESCE(p.category, :default_category) AS category,
                   COALESCE(th.threshold, :default) AS threshold
            FROM totals t LEFT JOIN _person p ON p.id_no = t.id_no LEFT JOIN th ON th.category = p.category
            WHERE t.total > COALESCE(th.threshold, :default)
        )
        SELECT h.id_no AS subject_key, :year AS period,
               :year || '年' || :measure || ' ' || yuan(h.total) || ' 元，超过' || h.category || '对象阈值 '
                 || yuan(h.threshold) || ' 元（统计期 ' || :start || ' 至 ' || :as_of || '）' AS evidence,
               (SELECT {refs_sql(self.source)} FROM {ctx.table(self.source)} r
                WHERE r.id_no = h.id_no AND r."{self.date}" BETWEEN :start AND :as_of {filters}) AS refs
        FROM hits h
        """
        return sql, params
