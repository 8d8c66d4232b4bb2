"""一户一档 (relief household) on the sample city, and data freshness (relief status, scan warnings)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from relief_cli.cli import app
from relief_cli.config import ConfigError, config_from_mapping, default_rules_path, load_config
from relief_cli.household import HouseholdNotFound, find_household
from relief_cli.importer import import_paths
from relief_cli.privacy import Masker
from relief_cli.sample import SAMPLE_AS_OF, STORIES
from relief_cli.scan import scan
from relief_cli.status import data_status, rule_sources, rule_warnings
from relief_cli.store import Store
from conftest import ROOT, load, make_id

runner = CliRunner()
SURGE = STORIES["medical_surge"]
TEKUN = STORIES["dibao_to_tekun"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def city(sample_city, dbs):
    """A copy of the sample city that a test may write to (audit lines, alerts)."""
    return dbs.copy(sample_city, "city.db")


def household(db: str, key: str, day: dt.date = SAMPLE_AS_OF, show_pii: bool = False):
    with Store(db, load_config(ROOT / "rules.yaml")) as store:
        return find_household(store, key, day, Masker(show_pii)).as_dict()


# -- 一户一档 -------------------------------------------------------------------------------------
def test_household_of_the_medical_surge_story_field_by_field(sample_city):
    h = household(sample_city, SURGE)
    assert list(h) == ["as_of", "hukou_no", "district", "town", "community", "grid", "worker", "worker_phone", "address",
                       "category", "members", "alerts", "visits", "sources"]
    assert (h["as_of"], h["hukou_no"], h["district"], h["town"], h["community"], h["grid"], h["worker"], h["worker_phone"]) == (
        "2026-11-20", SURGE, "铜官区", "幸福街道", "金口岭社区", "金口岭社区第2网格", "邱兰凤", "160****6691")
    assert h["address"] == "铜陵市铜官区金口岭社区43栋3单元1801室" and h["category"] == "非低收入人口"
    assert [(m["relation"], m["name"], m["id_no"], m["sex"], m["age"], m["category"], m["category_from"], m["disability"],
             m["died_on"], m["listed"], m["phone"]) for m in h["members"]] == [
        ("户主", "贾**", "3407**********2854", "男", 58, "非低收入人口", "", [], None, True, "148****2571"),
        ("配偶", "甄**", "3407**********1561", "女", 55, "非低收入人口", "", [], None, True, None),
        ("女", "贾**", "3407**********3407", "女", 28, "非低收入人口", "", [], None, True, None),
    ]
    assert [(m["file"], m["sheet"], m["row"]) for m in h["members"]] == [
        ("公安_户籍人口.xlsx", "户籍人口", 772), ("公安_户籍人口.xlsx", "户籍人口", 773), ("公安_户籍人口.xlsx", "户籍人口", 774)]
    alerts = {a["rule"]: a for a in h["alerts"]}
    assert sorted(alerts) == ["household_medical_surge", "medical_annual", "medical_surge"]
    family = alerts["household_medical_surge"]  # the household's, named by its head
    assert (family["subject"], family["id_no"], family["name"], family["hukou_no"], len(family["refs"])) == (
        "household", "3407**********2854", "贾**", SURGE, 10)
    surge = alerts["medical_surge"]
    assert (surge["subject"], surge["id_no"], surge["name"], surge["status"], surge["raised_on"], surge["due_on"],
            surge["history"]) == ("person", "3407**********1561", "甄**", "open", "2026-11-20", "2026-11-27", [])
    assert surge["evidence"] == ("近90天个人自付医疗费用 20,756 元，为此前365天平均每90天 172.60 元的 120.3 倍"
                                 "（阈值 3.0 倍，且不低于 5,000 元）")
    assert [(r["file"], r["sheet"], r["row"]) for r in surge["refs"]] == [
        ("医保_结算明细_2025-2026.xlsx", "明细", row) for row in range(1822, 1829)]
    assert h["visits"] == []
    sources = h["sources"]
    assert list(sources) == ["medical", "social_insurance", "assistance", "applications", "adjustments", "disability",
                             "unemployment", "deaths", "illness", "students"]
    assert [(m["month"], m["name"], m["settlements"], m["total_cost"], m["fund_paid"], m["oop"]) for m in sources["medical"]] == [
        ("2025-12", "甄**", 1, 298.0, 148.0, 150.0), ("2026-03", "甄**", 1, 410.0, 200.0, 210.0),
        ("2026-04", "贾**", 1, 123.0, 55.0, 68.0), ("2026-06", "甄**", 1, 326.0, 166.0, 160.0),
        ("2026-08", "贾**", 1, 186.0, 84.0, 102.0), ("2026-09", "甄**", 1, 38620.0, 27034.0, 11586.0),
        ("2026-10", "甄**", 1, 6800.0, 4080.0, 2720.0), ("2026-11", "甄**", 1, 21500.0, 15050.0, 6450.0)]
    months = [f"2025-{m}" for m in ("11", "12")] + [f"2026-{m:02d}" for m in range(1, 11)]
    assert [(c["id_no"], c["paid_months"], list(c["months"]), set(c["months"].values()), c["missing"])
            for c in sources["social_insurance"]] == [
        ("3407**********2854", 12, months, {6200.0}, []), ("3407**********3407", 12, months, {7400.0}, [])]
    assert sources["illness"] == [{"id_no": "3407**********1561", "name": "甄**", "diagnosis": "恶性肿瘤",
                                   "diagnose_date": "2026-09-07", "file": "卫健_死亡与重大疾病.xlsx", "sheet": "重大疾病", "row": 14}]
    assert sources["assistance"] == sources["disability"] == sources["deaths"] == []


def test_household_of_the_dibao_family_shows_categories_and_disabilities(sample_city):
    h = household(sample_city, TEKUN)
    assert h["category"] == "低保"
    assert [(m["relation"], m["age"], m["category"], m["category_from"], m["disability"]) for m in h["members"]] == [
        ("户主", 68, "低保", "本人", ["肢体三级"]), ("配偶", 65, "低保", "本人", []), ("子", 40, "低保", "本人", ["精神二级"])]
    assert [(a["rule"], a["subject"], a["evidence"]) for a in h["alerts"]] == [
        ("dibao_to_tekun", "household", "全户 3 人均符合特困供养条件：户主 68岁；配偶 65岁；子 持精神2级残疾")]
    certificates = h["sources"]["disability"]
    assert [(d["id_no"], d["cert_no"], d["disability_type"], d["grade"]) for d in certificates] == [
        ("3407**********573X", "3407**********573X62", "精神", 2), ("3407**********3077", "3407**********307743", "肢体", 3)]
    assert [(r["category"], r["status"], r["listed"]) for r in h["sources"]["assistance"]] == [("低保", "正常", True)] * 3


def test_a_member_id_finds_the_household_and_unknowns_are_named_masked(sample_city):
    member = make_id("340702", "19680101", 1)
    head = household(sample_city, SURGE, show_pii=True)["members"][0]["id_no"]
    assert household(sample_city, head)["hukou_no"] == SURGE
    with Store(sample_city, load_config(ROOT / "rules.yaml")) as store:
        with pytest.raises(HouseholdNotFound, match="找不到户号「999」"):
            find_household(store, "999", SAMPLE_AS_OF)
        with pytest.raises(HouseholdNotFound) as e:
            find_household(store, member, SAMPLE_AS_OF)
    assert str(e.value) == f"户籍人口中没有身份证号 {member[:4]}{'*' * 10}{member[-4:]}，无法确定其所在的户"


def test_household_inherits_the_category_but_not_through_an_inactive_own_entry(store, tmp_path):
    head, child, stopped = (make_id("340705", "19700101", i) for i in (1, 2, 3))
    load(store, tmp_path, "population", [{"id_no": p, "name": "某人", "hukou_no": "H9", "relation": r}
                                         for p, r in ((head, "户主"), (child, "子"), (stopped, "女"))])
    load(store, tmp_path, "assistance", [{"id_no": head, "category": "低保", "since": "2020-01-01", "status": "正常"},
                                         {"id_no": stopped, "category": "低保", "since": "2020-01-01", "status": "停发"}])
    members = find_household(store, "H9", SAMPLE_AS_OF).members
    assert [(m.category, m.category_from, m.roster_status) for m in members] == [
        ("低保", "本人", None), ("低保", "随户", None), ("非低收入人口", "", "停发")]


def test_household_cli_json_equals_the_service_masks_and_audits_pii(city):
    shown = run("household", SURGE, "--db", city, "--as-of", "2026-11-20", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == json.loads(json.dumps(household(city, SURGE), ensure_ascii=False))
    table = run("household", SURGE, "--db", city, "--as-of", "2026-11-20")
    assert table.exit_code == 0 and "一户一档：户号 340702900000101（截至 2026-11-20）" in table.stdout
    assert "3407**********1561" in table.stdout and "甄**" in table.stdout
    full = json.loads(run("household", SURGE, "--db", city, "--as-of", "2026-11-20", "--format", "json", "--show-pii").stdout)
    assert "*" not in full["members"][1]["id_no"] and "*" not in full["members"][1]["name"]
    with Store(city, load_config(ROOT / "rules.yaml")) as store:
        audit = store.conn.execute("SELECT command, filters, rows, show_pii FROM audit WHERE command = 'household'").fetchall()
    assert [(c, json.loads(f)["hukou_no"], n, p) for c, f, n, p in audit] == [
        ("household", SURGE, 3, 0), ("household", SURGE, 3, 1)]
    missing = run("household", "999", "--db", city)
    assert missing.exit_code == 1 and "找不到户号「999」" in missing.stderr


def test_alerts_filtered_by_household(city):
    listed = json.loads(run("alerts", "--db", city, "--household", SURGE, "--format", "json").stdout)
    assert sorted(a["rule"] for a in listed) == ["household_medical_surge", "medical_annual", "medical_surge"]
    assert {a["hukou_no"] for a in listed} == {SURGE}
    unknown = run("alerts", "--db", city, "--household", "H404")
    assert unknown.exit_code == 1 and "找不到户号「H404」（户籍人口和预警中都没有这个户号）" in unknown.stderr


# -- freshness -------------------------------------------------------------------------------------
def test_status_of_the_sample_city_on_its_date(sample_city):
    with Store(sample_city, load_config(ROOT / "rules.yaml")) as store:
        report = data_status(store, SAMPLE_AS_OF)
    today = dt.date.today().isoformat()
    got = {s.source: (s.rows, s.latest, s.dated_by, s.state, s.note) for s in report.sources}
    assert got == {
        "population": (3136, today, "list", "ok", ""),
        "grids": (31, today, "list", "ok", ""),
        "assistance": (254, today, "list", "ok", ""),
        "applications": (18, "2026-11-13", "record", "ok", ""),
        "adjustments": (16, "2026-11-16", "record", "ok", ""),
        "medical": (7163, "2026-12-07", "record", "ok", ""),
        "disability": (90, "2026-11-08", "record", "ok", ""),
        "unemployment": (36, "2026-11-04", "record", "ok", ""),
        "social_insurance": (5201, "2026-10", "record", "ok", ""),
        "deaths": (25, "2026-11-18", "record", "ok", ""),
        "illness": (31, "2026-11-12", "record", "ok", ""),
        "students": (374, "2026-09-09", "record", "ok", ""),
        "visits": (0, None, None, "missing", "「走访反馈」没有数据（从未导入）"),
    }
    medical = next(s for s in report.sources if s.source == "medical")
    assert (medical.last_file, medical.cadence) == ("医保_结算明细_2025-2026.xlsx", "monthly")


def test_status_past_the_data_is_stale(sample_city):
    with Store(sample_city, load_config(ROOT / "rules.yaml")) as store:
        report = data_status(store, dt.date(2027, 6, 30))
    notes = {s.source: (s.state, s.note) for s in report.sources}
    today = dt.date.today().isoformat()
    assert notes["medical"] == ("stale", "「医保结算」的数据只到 2026-12（按月报送，应已有 2027-05 的数据）")
    assert notes["social_insurance"] == ("stale", "「社保缴费」的数据只到 2026-10（按月报送，应已有 2027-05 的数据）")
    assert notes["population"] == ("stale", f"「户籍人口」最近一次名单是 {today}（按月报送，应已有 2027-05 或更晚的名单）")
    assert notes["students"] == ("ok", "")  # yearly: 2026-09 is recent enough until 2027-09
    with Store(sample_city, load_config(ROOT / "rules.yaml")) as store:
        assert {s.source: s.state for s in data_status(store, dt.date(2027, 10, 1)).sources}["students"] == "stale"


def test_status_cli_json_equals_the_service(city):
    result = run("status", "--db", city, "--as-of", "2027-06-30", "--allow-future", "--format", "json")
    assert result.exit_code == 0, result.output
    with Store(city, load_config(ROOT / "rules.yaml")) as store:
        expected = data_status(store, dt.date(2027, 6, 30)).as_dict()
    assert json.loads(result.stdout) == expected
    table = run("status", "--db", city, "--as-of", "2026-11-20")
    assert "数据状态（截至 2026-11-20）：13 类数据，0 类缺失或过期" in table.stdout


def test_scan_with_only_medical_data_warns_per_rule(store, tmp_path):
    assert not import_paths(store, [ROOT / "sample_data" / "医保_结算明细_2025-2026.xlsx"]).failures
    result = scan(store, SAMPLE_AS_OF)
    assert result.unassigned == 21
    texts = {w.rule: w.text for w in result.warnings}
    assert len(texts) == len(store.config.rules) == 14
    assert texts["medical_annual"] == (
        "规则 medical_annual（年度个人自付医疗费用超阈值）：「救助对象名册」没有数据（从未导入）；"
        "「户籍人口」没有数据（从未导入）；「网格」没有数据（从未导入）")
    assert texts["medical_surge"] == (
        "规则 medical_surge（医疗费用骤增）：「户籍人口」没有数据（从未导入）；「网格」没有数据（从未导入）")
    assert texts["unemployment"].startswith("规则 unemployment（新办失业登记）：「就业失业登记」没有数据（从未导入）；")


def test_scan_past_the_data_names_the_last_month(sample_city, dbs):
    db = dbs.copy(sample_city, "c.db")
    result = run("scan", "--db", db, "--as-of", "2027-06-30", "--allow-future")
    assert result.exit_code == 0
    assert ("注意：规则 medical_surge（医疗费用骤增）：「医保结算」的数据只到 2026-12（按月报送，应已有 2027-05 的数据）；"
            "「户籍人口」最近一次名单是") in result.stderr
    assert "注意：「户籍人口」缺失或过期时，预警无法按户归集，也无法分派到网格员（进入未分派队列）" in result.stderr
    fresh = run("scan", "--db", db, "--as-of", "2026-11-20")
    assert fresh.exit_code == 0 and "注意：规则" not in fresh.stderr


def test_rule_sources_include_routing_roster_and_sql_tables():
    config = load_config(ROOT / "rules.yaml")
    rules = {r.id: r for r in config.rules}
    settings = config.settings
    assert rule_sources(rules["medical_surge"], settings) == ["medical", "population", "grids"]
    assert rule_sources(rules["medical_annual"], settings) == ["medical", "assistance", "population", "grids"]
    assert rule_sources(rules["dibao_to_tekun"], settings) == ["assistance", "disability", "deaths", "population", "grids"]
    raw = __import__("yaml").safe_load(default_rules_path().read_text(encoding="utf-8"))
    raw["rules"] = [{"id": "own", "name": "自定义", "kind": "sql", "family": "支出骤增", "severity": "黄",
                     "query": "SELECT id_no AS subject_key, 1 AS period, 'x' AS evidence FROM src_students JOIN medical_yuan USING (id_no)"}]
    custom = config_from_mapping(raw)
    assert rule_sources(custom.rules[0], custom.settings) == ["medical", "students", "population", "grids"]


def test_rule_warnings_skip_disabled_rules(store):
    disabled = [r.model_copy(update={"enabled": False}) for r in store.config.rules]
    assert rule_warnings(store, SAMPLE_AS_OF, disabled) == []


def test_cadence_is_checked_and_named():
    raw = __import__("yaml").safe_load(default_rules_path().read_text(encoding="utf-8"))
    raw["sources"]["medical"]["cadence"] = "weekly"
    raw["sources"]["deaths"]["record_date"] = "name"
    with pytest.raises(ConfigError) as e:
        config_from_mapping(raw)
    assert e.value.problems == [
        "rules.yaml: sources.medical.cadence: 取值应为 'monthly', 'quarterly', 'yearly', 'none' 之一",
        "rules.yaml: sources.deaths: record_date 的字段 name 的类型应为 date 或 period",
    ]
