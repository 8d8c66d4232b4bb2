"""relief household: 一户一档, everything relief knows about one household on a date.

Its members (on the population list that day, and those who have left it) with their category,
age and disability; per source the records that matter (medical totals by month and
contribution months over the last 12 months, the events of every other source); every alert
with its outcome history; the visits; and for each record the file, sheet and row it came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from . import store_records as sql
from .alerts import AlertFilter, list_alerts
from .privacy import Masker
from .status import months_before
from .store import Store
from .values import ValueProblem, age_on, id_sex, mask_id, normalize_id

GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
# Sources shown in their own way (or not at all: the population is the member list).
OWN_SECTIONS = ("population", "grids", "assistance", "medical", "social_insurance", "visits")
MONTHS = 12


class HouseholdNotFound(Exception):
    """Neither a known 户号 nor the ID of someone in the population table (Chinese message, ID masked)."""


@dataclass(frozen=True)
class Member:
    id_no: str | None
    name: str | None
    relation: str | None
    sex: str | None
    age: int | None
    category: str
    category_from: str  # 本人 (own roster entry), 随户 (the household's), or empty (the default category)
    roster_status: str | None  # the status of an own roster entry that does not count (停发 …)
    disability: list[str]
    died_on: str | None
    listed: bool  # on the population list on the as-of date
    phone: str | None
    file: str | None
    sheet: str | None
    row: int | None


@dataclass(frozen=True)
class Household:
    as_of: str
    hukou_no: str
    district: str | None
    town: str | None
    community: str | None
    grid: str | None
    worker: str | None
    worker_phone: str | None
    address: str | None
    category: str
    members: list[Member]
    alerts: list[dict[str, Any]]
    visits: list[dict[str, Any]]
    sources: dict[str, list[dict[str, Any]]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_household(store: Store, key: str, as_of: dt.date, masker: Masker = Masker()) -> Household:
    """The household of a 户号, or of the person with this ID, as of a date."""
    store.valid_views(as_of.isoformat())
    key = key.strip()
    hukou = key if sql.household_known(store, key) else _hukou_of_person(store, key)
    return _household(store, hukou, as_of, masker)


def _hukou_of_person(store: Store, key: str) -> str:
    try:
        id_no = normalize_id(key)
    except ValueProblem:
        raise HouseholdNotFound(f"找不到户号「{key}」（户籍人口和预警中都没有这个户号，也不是有效的身份证号）") from None
    hukou = sql.hukou_of(store, id_no)
    if hukou is None:
        raise HouseholdNotFound(f"户籍人口中没有身份证号 {mask_id(id_no)}，无法确定其所在的户")
    return hukou


def _household(store: Store, hukou: str, as_of: dt.date, masker: Masker) -> Household:
    settings = store.config.settings
    rows = sql.members(store, hukou)
    ids = [r["id_no"] for r in rows]
    head = next((r for r in rows if r["listed"]), rows[0] if rows else {})
    grid = sql.grid_of(store, head.get("community"), head.get("grid")) or {}
    roster = sql.records_of(store, "assistance", ids) if "assistance" in store.config.sources else []
    own, inactive = _own_categories(store, roster, as_of)
    listed_ids = {r["id_no"] for r in rows if r["listed"]}
    ranks = {c.name: i for i, c in enumerate(settings.categories)}
    family = min((own[i] for i in own if i in listed_ids), key=ranks.__getitem__, default=None)
    disabilities = _by_person(sql.records_of(store, "disability", ids, "issue_date")) if "disability" in store.config.sources else {}
    deaths = _by_person(sql.records_of(store, "deaths", ids)) if "deaths" in store.config.sources else {}
    members = []
    for r in rows:
        i = r["id_no"]
        if i in own:
            category, source = own[i], "本人"
        elif i in inactive or family is None:
            category, source = settings.default_category, ""
        else:
            category, source = family, "随户"
        members.append(Member(
            masker.id_no(i), masker.name(r.get("name")), r.get("relation"), _sex(i), age_on(i, as_of), category, source,
            inactive.get(i), [f"{d.get('disability_type') or ''}{GRADES.get(d.get('grade'), d.get('grade') or '')}".strip()
                              for d in disabilities.get(i, [])],
            next((d.get("death_date") for d in deaths.get(i, [])), None), bool(r["listed"]), masker.phone(r.get("phone")),
            r.get("_file"), r.get("_sheet"), r.get("_row")))
    alerts = list_alerts(store, AlertFilter(household=hukou), masker, with_refs=True)
    history = sql.outcome_history(store, [a["id"] for a in alerts])
    for a in alerts:
        a["history"] = [h for h in history if h["alert_id"] == a["id"]]
    return Household(
        as_of.isoformat(), hukou, grid.get("district"), grid.get("town"), head.get("community"), head.get("grid"),
        grid.get("worker"), masker.phone(grid.get("worker_phone")), head.get("address"), family or settings.default_category,
        members, alerts, _visits(store, hukou), _sources(store, {r["id_no"]: r.get("name") for r in rows}, roster, as_of, masker))


def _own_categories(store: Store, roster: list[dict[str, Any]], as_of: dt.date) -> tuple[dict[str, str], dict[str, str]]:
    """Per person: the best category of their own roster entries that count on the date, and the
    status of an own entry that does not (停发 …): such a person does not take the household's."""
    settings = store.config.settings
    ranks = {c.name: i for i, c in enumerate(settings.categories)}
    own: dict[str, str] = {}
    inactive: dict[str, str] = {}
    for r in roster:
        if not r.get("listed") or r.get("category") not in ranks:
            continue
        if r.get("status") in settings.inactive_statuses:
            inactive.setdefault(r["id_no"], r["status"])
        elif not r.get("since") or r["since"] <= as_of.isoformat():
            best = own.get(r["id_no"])
            if best is None or ranks[r["category"]] < ranks[best]:
                own[r["id_no"]] = r["category"]
    return own, {i: s for i, s in inactive.items() if i not in own}


def _sources(store: Store, people: dict[str, str | None], roster: list[dict[str, Any]], as_of: dt.date,
             masker: Masker) -> dict[str, list[dict[str, Any]]]:
    """people: ID -> name of the household's members."""
    sources = store.config.sources
    ids = list(people)
    out: dict[str, list[dict[str, Any]]] = {}
    first_month = months_before(as_of, MONTHS - 1)
    if "medical" in sources:
        out["medical"] = [
            {"month": m["month"], "id_no": masker.id_no(m["id_no"]), "name": masker.name(people.get(m["id_no"])),
             "settlements": m["settlements"],
             "total_cost": _yuan(m["total_cost"]), "fund_paid": _yuan(m["fund_paid"]), "oop": _yuan(m["oop"])}
            for m in sql.medical_months(store, ids, f"{first_month}-01", as_of.isoformat())]
    if "social_insurance" in sources:
        paid: dict[str, dict[str, float]] = {}
        # Contributions are paid for a month after it ends: the window is the last 12 whole months.
        window = [months_before(as_of, n) for n in range(MONTHS, 0, -1)]
        for c in sql.contributions(store, ids, window[0].replace("-", ""), window[-1].replace("-", "")):
            paid.setdefault(c["id_no"], {})[f"{c['period'][:4]}-{c['period'][4:]}"] = _yuan(c["base"])
        out["social_insurance"] = [
            {"id_no": masker.id_no(i), "name": masker.name(people.get(i)), "months": months, "paid_months": len(months),
             "missing": [m for m in window if m not in months]}
            for i, months in paid.items()]
    if "assistance" in sources:
        out["assistance"] = [_record(store, "assistance", r, masker) for r in roster]
    for name, spec in sources.items():
        if name in OWN_SECTIONS or "id_no" not in spec.fields:
            continue
        out[name] = [_record(store, name, r, masker) for r in sql.records_of(store, name, ids, spec.date_field)]
    return out


def _record(store: Store, source: str, row: dict[str, Any], masker: Masker) -> dict[str, Any]:
    """A source row as the dossier shows it: its fields (amounts in 元, personal data masked) and where it came from."""
    spec = store.config.sources[source]
    out: dict[str, Any] = {}
    for name, field in spec.fields.items():
        value = row.get(name)
        if field.type == "id":
            value = masker.id_no(value)
        elif field.type == "name" and name == "name":
            value = masker.name(value)
        elif field.type == "phone":
            value = masker.phone(value)
        elif field.type == "amount":
            value = _yuan(value)
        elif isinstance(value, str) and row.get("id_no") and row["id_no"] in value:
            value = value.replace(row["id_no"], masker.id_no(row["id_no"]) or "")  # 残疾证号 is the ID and two digits
        out[name] = value
    if "listed" in row:
        out["listed"] = bool(row["listed"])
    out.update({"file": row.get("_file"), "sheet": row.get("_sheet"), "row": row.get("_row")})
    return out


def _visits(store: Store, hukou: str) -> list[dict[str, Any]]:
    if "visits" not in store.config.sources:
        return []
    fields = list(store.config.sources["visits"].fields)
    return [{**{f: v.get(f) for f in fields}, "file": v.get("_file"), "sheet": v.get("_sheet"), "row": v.get("_row")}
            for v in sql.visits_of(store, hukou)]


def _by_person(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["id_no"], []).append(r)
    return out


def _sex(id_no: str | None) -> str | None:
    try:
        return id_sex(id_no) if id_no else None
    except ValueProblem:
        return None


def _yuan(fen: int | None) -> float | None:
    return None if fen is None else round(fen / 100, 2)
