"""What every rule has, whatever its kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .shared import SharedTable

Family = Literal["支出骤增", "收入骤减", "收入不稳定", "类别升级"]
Severity = Literal["红", "橙", "黄"]
Subject = Literal["person", "household"]


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    name: str = Field(min_length=1)
    kind: str
    family: Family
    severity: Severity
    suggests: tuple[str, ...] = ()
    enabled: bool = True
    # Rules without a natural period (a ratio over a moving window) stay quiet for
    # this many days after they last raised an alert for the same subject.
    cooldown_days: int = Field(0, ge=0, le=3660)

    @property
    def subject(self) -> Subject:
        return "person"

    def check(self, settings: Any) -> list[str]:
        """Problems that need the rest of the configuration, as 'key: message'."""
        return []

    def shared(self, ctx: ScanContext) -> tuple[SharedTable, ...]:
        """The shared aggregates (kinds.shared) the query reads: the scan builds them first."""
        return ()

    def select(self, ctx: ScanContext) -> tuple[str, dict[str, Any]]:
        """A query yielding (subject_key, period, evidence, refs) for every hit."""
        raise NotImplementedError


@dataclass(frozen=True)
class ScanContext:
    """What a kind may read while it builds its query."""

    as_of: str  # ISO date
    settings: Any  # config.Settings

    def table(self, source: str) -> str:
        """The table a rule reads: for a full list, its entries valid on the scan date (Store.valid_views)."""
        from ..store import read_table

        return f'"{read_table(self.settings, source)}"'


def check_source(settings: Any, source: str, fields: dict[str, str | None], allowed: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Cross-check that a rule's source and fields exist (and have usable types)."""
    spec = settings.sources.get(source)
    if spec is None:
        return [f"source: 未定义的数据来源 {source!r}"]
    problems = []
    for key, name in fields.items():
        if name is None:
            continue
        if name not in spec.fields:
            problems.append(f"{key}: 来源 {source} 没有字段 {name!r}")
        elif allowed and key in allowed and spec.fields[name].type not in allowed[key]:
            problems.append(f"{key}: 字段 {name} 的类型应为 {'/'.join(allowed[key])}")
    return problems


def refs_sql(source: str, alias: str = "r") -> str:
    """JSON array of the source records behind a hit: file, sheet and row."""
    return (
        f"json_group_array(json_object('source', '{source}', 'id', {alias}._id, "
        f"'file', {alias}._file, 'sheet', {alias}._sheet, 'row', {alias}._row))"
    )
