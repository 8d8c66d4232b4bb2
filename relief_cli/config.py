"""rules.yaml: read once into frozen, typed objects; every problem names its key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .values import header_core, normalize_header

# libyaml's loader is ten times faster; every command reads rules.yaml before it starts.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FieldType = Literal["id", "name", "phone", "text", "date", "period", "amount", "grade", "category", "int"]
# How often a department sends a source: relief status and scan say when its data is older than that.
# none: no schedule (returned visit sheets come when they come).
Cadence = Literal["monthly", "quarterly", "yearly", "none"]
CADENCE_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
DEFAULT_RULES_NAME = "rules.yaml"


class ConfigError(Exception):
    """rules.yaml is unusable; `problems` lists every problem, each naming file and key."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(Strict):
    type: FieldType = "text"
    # A blank cell rejects the row (a blank 个人自付 is unknown, not zero).
    required: bool = False
    aliases: tuple[str, ...] = ()
    # Amounts only: negative values are accepted (refunds, corrections); elsewhere they are refused.
    negative: bool = False


class FullListSpec(Strict):
    """A source re-sent whole each month: who is missing from a newer list has left it."""

    # Fields whose values a file covers (e.g. [district] when each district sends its own file);
    # empty: the whole city, so a file ends every entry it does not list.
    scope: tuple[str, ...] = ()
    # A list that would end more than this share of its scope is refused (a truncated export).
    max_shrink: float = Field(0.2, gt=0, le=1)


class SourceSpec(Strict):
    label: str
    department: str = ""
    key: tuple[str, ...] = Field(min_length=1)
    fields: dict[str, FieldSpec] = Field(min_length=1)
    # Rows where all of these are blank were not filled in (a returned form): skipped, not rejected.
    filled_when: tuple[str, ...] = ()
    # Fields the rules and lists look rows up by (id_no is always indexed).
    index: tuple[str, ...] = ()
    full_list: FullListSpec | None = None
    cadence: Cadence = "monthly"
    # The field that dates a record, for freshness (default: the first date or period field;
    # a full list is dated by the list's own date).
    record_date: str | None = None

    @model_validator(mode="after")
    def _key_fields_exist(self) -> SourceSpec:
        scope = self.full_list.scope if self.full_list else ()
        missing = [k for k in (*self.key, *self.filled_when, *self.index, *scope) if k not in self.fields]
        if missing:
            raise ValueError(f"key、filled_when、index 或 full_list.scope 中的字段未在 fields 中定义：{', '.join(missing)}")
        if self.record_date and self.record_date not in self.fields:
            raise ValueError(f"record_date 的字段 {self.record_date} 未在 fields 中定义")
        if self.record_date and self.fields[self.record_date].type not in ("date", "period"):
            raise ValueError(f"record_date 的字段 {self.record_date} 的类型应为 date 或 period")
        for name in self.fields:
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"字段名 {name} 只能由英文字母、数字和下划线组成，且不能以下划线开头")
        return self

    def header_map(self) -> dict[str, str]:
        """Normalised header text -> field name (the field name itself also matches)."""
        out: dict[str, str] = {}
        for name, spec in self.fields.items():
            for alias in (name, *spec.aliases):
                out.setdefault(normalize_header(alias), name)
        return out

    def loose_header_map(self) -> dict[str, str]:
        """Header text without bracketed notes -> field, for titles that carry units; a core that two
        fields share (乡镇(街道) and 乡镇 name one field, but 社区(村) and 村(社区) could clash) is left out."""
        out: dict[str, str] = {}
        clashes: set[str] = set()
        for title, name in self.header_map().items():
            core = header_core(title)
            if out.get(core, name) != name:
                clashes.add(core)
            out.setdefault(core, name)
        return {k: v for k, v in out.items() if k not in clashes}

    @property
    def date_field(self) -> str | None:
        """The field whose latest value tells how recent a source's data is (None: a full list, dated
        by its lists, or a source without dates)."""
        if self.record_date:
            return self.record_date
        if self.full_list is not None:
            return None
        return next((n for n, f in self.fields.items() if f.type in ("date", "period")), None)

    @property
    def indexed(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*(("id_no",) if "id_no" in self.fields else ()), *self.index)))

    @property
    def soft(self) -> tuple[str, ...]:
        """Fields that neither identify nor classify a row (not key, required, ID or category): an
        unreadable cell there is left blank and the row kept, and a blank never erases a stored value."""
        return tuple(n for n, f in self.fields.items()
                     if n not in self.key and not f.required and f.type not in ("id", "category"))

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.fields.items() if f.required)


class CategorySpec(Strict):
    name: str
    aliases: tuple[str, ...] = ()


class CalendarSpec(Strict):
    holidays: tuple[dt.date, ...] = ()
    workdays: tuple[dt.date, ...] = ()


class QuestionSpec(Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    title: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    tailored: dict[str, str] = {}


class ChecklistSpec(Strict):
    application_done_statuses: tuple[str, ...] = ()
    recent_adjustment_days: int = Field(60, ge=1, le=3660)
    # Households due within this many working days are marked 即将到期 on the printed cover list
    due_soon_working_days: int = Field(2, ge=0, le=30)
    questions: tuple[QuestionSpec, ...] = Field(min_length=1)


class LimitsSpec(Strict):
    """What one input file may cost at most; a file beyond a bound is refused with the reason,
    before it costs hours or the machine's memory (hostile or broken exports exist)."""

    sheets_per_workbook: int = Field(255, ge=1, le=100_000)
    # Decompressed size of one part of an xlsx/ods and of all of them, counted while inflating:
    # the sizes a zip declares can lie.
    part_mb: int = Field(1536, ge=1)  # a real 1M-row, 10-column sheet inflates to about 460 MB
    total_mb: int = Field(6144, ge=1)
    rows_per_sheet: int = Field(10_000_000, ge=1)  # a CSV has no Excel row cap: a city's year of settlements
    cells_per_row: int = Field(1000, ge=1, le=16_384)
    seconds_per_file: int = Field(1800, ge=10)
    rejected_rows_per_file: int = Field(200_000, ge=1)


OUTCOMES = ("纳入救助", "转办", "不符合条件", "无法联系", "已在保无需处理")


class Settings(Strict):
    """The top level of rules.yaml (rules themselves are validated by their kind)."""

    version: Literal[1] = 1
    categories: tuple[CategorySpec, ...] = Field(min_length=1)
    default_category: str = "非低收入人口"
    inactive_statuses: tuple[str, ...] = ()
    calendar: CalendarSpec = CalendarSpec()
    visit_working_days: int = Field(5, ge=1, le=60)
    limits: LimitsSpec = LimitsSpec()
    checklist: ChecklistSpec
    outcomes: tuple[Literal["纳入救助", "转办", "不符合条件", "无法联系", "已在保无需处理"], ...] = OUTCOMES
    sources: dict[str, SourceSpec] = Field(min_length=1)
    rules: tuple[dict[str, Any], ...] = ()

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
        for name in v:
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"来源名 {name} 只能由英文字母、数字和下划线组成")
        return v


@dataclass(frozen=True)
class Config:
    """The validated configuration: settings plus typed rules."""

    path: str
    settings: Settings
    rules: tuple[Any, ...]

    @property
    def sources(self) -> dict[str, SourceSpec]:
        return self.settings.sources

    @cached_property
    def category_lookup(self) -> dict[str, str]:
        """Any spelling of a category (normalised) -> its canonical name."""
        out: dict[str, str] = {}
        for cat in self.settings.categories:
            for alias in (cat.name, *cat.aliases):
                out[normalize_header(alias)] = cat.name
        return out

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.settings.categories)


_MESSAGES = {
    "extra_forbidden": "未知的键（请检查拼写）",
    "missing": "缺少必填的键",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "date_from_datetime_parsing": "应为日期，格式 YYYY-MM-DD",
    "date_parsing": "应为日期，格式 YYYY-MM-DD",
    "date_type": "应为日期，格式 YYYY-MM-DD",
    "string_type": "应为文本",
    "list_type": "应为列表",
    "tuple_type": "应为列表",
    "dict_type": "应为映射（键: 值）",
    "model_type": "应为映射（键: 值）",
    "too_short": "不能为空",
}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe_errors(err: ValidationError, file: str, prefix: str = "") -> list[str]:
    """Pydantic errors as Chinese lines naming file and key path."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _loc(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        etype = e["type"]
        if etype == "literal_error":
            expected = e.get("ctx", {}).get("expected", "")
            msg = f"取值应为 {str(expected).replace(' or ', ', ')} 之一"
        elif etype in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            bound = next(iter(e.get("ctx", {}).values()), "")
            sign = {"greater_than_equal": "≥", "less_than_equal": "≤", "greater_than": ">", "less_than": "<"}[etype]
            msg = f"应 {sign} {bound}"
        elif etype == "value_error":
            msg = str(e.get("ctx", {}).get("error", e["msg"]))
        else:
            msg = _MESSAGES.get(etype, e["msg"])
        lines.append(f"{file}: {path}: {msg}")
    return lines


def default_rules_path() -> Path:
    return Path(str(resources.files("relief_cli") / DEFAULT_RULES_NAME))


def resolve_rules_path(given: Path | None) -> Path:
    """An explicit --rules wins; else ./rules.yaml; else the copy shipped with the package."""
    if given is not None:
        return given
    local = Path(DEFAULT_RULES_NAME)
    return local if local.is_file() else default_rules_path()


@dataclass(frozen=True)
class RulesOrigin:
    """Which rules file a command applies, and rules.yaml files near the work that it did not."""

    path: Path
    builtin: bool
    unused: tuple[Path, ...] = ()


def rules_origin(given: Path | None, near: Iterable[Path] = ()) -> RulesOrigin:
    """near: folders where an officer may keep a rules.yaml (the database's, the inputs')."""
    path = resolve_rules_path(given)
    builtin = given is None and path == default_rules_path()
    unused: list[Path] = []
    if builtin:
        for folder in near:
            candidate = (folder / DEFAULT_RULES_NAME).resolve()
            if candidate.is_file() and candidate not in unused:
                unused.append(candidate)
    return RulesOrigin(path, builtin, tuple(unused))


def load_config(path: Path | None = None) -> Config:
    path = resolve_rules_path(path)
    name = str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=SAFE_LOADER)  # Notepad may add a BOM
    except FileNotFoundError:
        raise ConfigError([f"{name}: 找不到规则文件"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{name}: 不是 UTF-8 编码的文本文件（用记事本打开后“另存为”，编码选 UTF-8）"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        raise ConfigError([f"{name}: YAML 格式错误 {where}".rstrip()]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: 顶层应为映射（键: 值）"])
    return config_from_mapping(raw, name)


def config_from_mapping(raw: dict[str, Any], name: str = DEFAULT_RULES_NAME) -> Config:
    from .kinds import validate_rules  # kinds import this module for their base model

    problems: list[str] = []
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        problems.extend(describe_errors(e, name))
        settings = None
    rules: tuple[Any, ...] = ()
    if isinstance(raw.get("rules", []), list):
        rules, rule_problems = validate_rules(raw.get("rules") or [], name, settings)
        problems.extend(rule_problems)
    if problems or settings is None:
        raise ConfigError(problems)
    return Config(path=name, settings=settings, rules=rules)
