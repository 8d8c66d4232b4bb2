"""A condition over every living member of a household in given categories (category upgrade)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import RuleBase, ScanContext, Subject
from .common import age_at


class Disability(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grades: tuple[int, ...] = Field(min_length=1)
    types: tuple[str, ...] = ()


class Condition(BaseModel):
    """One way a member can qualify; exactly one key per condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    age_at_least: int | None = Field(None, ge=0, le=150)
    age_under: int | None = Field(None, ge=0, le=150)
    disability: Disability | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        if sum(v is not None for v in (self.age_at_least, self.age_under, self.disability)) != 1:
            raise ValueError("每个条件须且只能包含 age_at_least、age_under、disability 之一")
        return self


class Rule(RuleBase):
    kind: Literal["household_all"] = "household_all"
    categories: tuple[str, ...] = Field(min_length=1)
    member_any_of: tuple[Condition, ...] = Field(min_length=1)
    target: str = Field(min_length=1)

    @property
    def subject(self) -> Subject:
        return "household"

    def check(self, settings: Any) -> list[str]:
        known = {c.name for c in settings.categories}
        problems = [f"categories: 未定义的救助类别 {c}" for c in self.categories if c not in known]
        for needed in ("population", "disability"):
            if needed not in settings.sources:
                problems.append(f"kind: 需要数据来源 {needed}")
        return problems

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"as_of": ctx.as_of, "year": ctx.as_of[:4], "target": self.target,
                                  "cats": json.dumps(list(self.categories), ensure_ascii=False)}
        age = age_at("m.id_no", ":as_of")
        tests, reasons = [], []
        for i, cond in enumerate(self.member_any_of):
            if cond.age_at_least is not None:
                params[f"c{i}"] = cond.age_at_least
                tests.append(f"{age} >= :c{i}")
                reasons.append((tests[-1], f"{age} || '岁'"))
            elif cond.age_under is not None:
                params[f"c{i}"] = cond.age_under
                tests.append(f"{age} < :c{i}")
                reasons.append((tests[-1], f"{age} || '岁'"))
            else:
                assert cond.disability is not None
                params[f"g{i}"] = json.dumps(list(cond.disability.grades))
                type_filter = ""
                if cond.disability.types:
                    params[f"t{i}"] = json.dumps(list(cond.disability.types), ensure_ascii=False)
                    type_filter = f" AND d.disability_type IN (SELECT value FROM json_each(:t{i}))"
                found = (f"(SELECT d.disability_type || d.grade || '级残疾' FROM {ctx.table('disability')} d "
                         f"WHERE d.id_no = m.id_no AND d.issue_date <= :as_of "
                         f"AND d.grade IN (SELECT CAST(value AS INTEGER) FROM json_each(:g{i})){type_filter} ORDER BY d.grade LIMIT 1)")
                tests.append(f"{found} IS NOT NULL")
                reasons.append((tests[-1], f"'持' || {found}"))
        qualifies = " OR ".join(f"({t})" for t in tests)
        reason = "CASE " + " ".join(f"WHEN {t} THEN {r}" for t, r in reasons) + " ELSE '不符合' END"
        deaths = ""
        if "deaths" in ctx.settings.sources:
            deaths = f"AND NOT EXISTS (SELECT 1 FROM {ctx.table('deaths')} x WHERE x.id_no = m.id_no AND x.death_date <= :as_of)"
        sql = f"""
        WITH members AS (
            SELECT m.hukou_no, m._id, m._file, m._sheet, m._row, COALESCE(m.relation, '成员') AS relation,
                   ({qualifies}) AS ok, {reason} AS why
            FROM {ctx.table('population')} m JOIN _household h ON h.hukou_no = m.hukou_no
            WHERE h.category IN (SELECT value FROM json_each(:cats)) {deaths}
        )
        SELECT r.hukou_no AS subject_key, :year AS period,
               '全户 ' || COUNT(*) || ' 人均符合' || :target || '条件：' || group_concat(r.relation || ' ' || r.why, '；') AS evidence,
               json_group_array(json_object('source', 'population', 'id', r._id, 'file', r._file,
                                            'sheet', r._sheet, 'row', r._row)) AS refs
        FROM (SELECT * FROM members ORDER BY hukou_no, _id) r  -- members in list order, whatever the plan
        GROUP BY r.hukou_no HAVING COUNT(*) > 0 AND SUM(r.ok) = COUNT(*)
        """
        return sql, params
