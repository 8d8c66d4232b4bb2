"""The office IT staff's escape hatch: a read-only SELECT returning subject_key, period, evidence[, refs].

The query sees the source tables (src_<source>, every row ever imported), the views
_valid_<source> of the full lists (population, roster, grids: only the entries on the list on
the scan date; use these, or the query counts people who have left), _person (id_no,
category) and _household (hukou_no, category) for people and households that have an
assistance category (everyone else is rules.yaml's default_category), with :as_of and :year bound.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from .base import RuleBase, ScanContext, Subject


class Rule(RuleBase):
    kind: Literal["sql"] = "sql"
    query: str = Field(min_length=1)
    for_household: bool = False

    @property
    def subject(self) -> Subject:
        return "household" if self.for_household else "person"

    @field_validator("query")
    @classmethod
    def _select_only(cls, v: str) -> str:
        head = v.lstrip().split(None, 1)[0].upper() if v.strip() else ""
        if head not in ("SELECT", "WITH"):
            raise ValueError("query 只能是 SELECT（或 WITH … SELECT）查询")
        if ";" in v.strip().rstrip(";"):
            raise ValueError("query 只能包含一条语句")
        return v.strip().rstrip(";")

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        # scan.py runs it under an authorizer that refuses writes; refs is optional.
        return self.query, {"as_of": ctx.as_of, "year": ctx.as_of[:4]}
