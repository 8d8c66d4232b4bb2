from __future__ import annotations

import datetime as dt

import pytest

from relief_cli.alerts import list_alerts
from relief_cli.config import config_from_mapping
from relief_cli.store import StoreError
from relief_cli.privacy import Masker
from relief_cli.scan import RuleQueryRefused, dry_run, scan
from relief_cli.store import Store
from relief_cli.workdays import WorkCalendar
from conftest import load, make_id, pg_admin, pg_name

AS_OF = dt.date(2026, 11, 20)
A = make_id("340705", "19800101", 11)  # working-age adult
B = make_id("340705", "19820202", 12)
C = make_id("340705", "19900303", 13)


@pytest.fixture()
def city(store, tmp_path):
    """One community with one grid and three households."""
    load(store, tmp_path, "grids", [
        {"district": "铜官区", "town": "幸福街道", "community": "金口岭社区", "grid": "第一网格", "worker": "网格员甲", "worker_phone": "13800001111"},
    ])
    load(store, tmp_path, "population", [
        {"id_no": A, "name": "测甲", "hukou_no": "H1", "relation": "户主", "community": "金口岭社区", "grid": "第一网格"},
        {"id_no": B, "name": "测乙", "hukou_no": "H2", "relation": "户主", "community": "金口岭社区", "grid": "第一网格"},
        {"id_no": C, "name": "测丙", "hukou_no": "H3", "relation": "户主", "community": "金口岭社区", "grid": "第一网格"},
    ])
    load(store, tmp_path, "assistance", [{"id_no": A, "category": "城市低保"}, {"id_no": C, "category": "特困人员"}])
    return store


def alerts_of(store, rule):
    return store.conn.execute(
        "SELECT subject_key, period, evidence FROM alerts WHERE rule_id = ? ORDER BY subject_key, period", (rule,)
    ).fetchall()


def settlements(*items):
    return [{"settlement_no": f"S{i}", "id_no": who, "settle_date": day, "visit_type": "住院", "oop": amount}
            for i, (who, day, amount) in enumerate(items)]


def test_annual_medical_threshold_by_category_at_one_yuan(city, tmp_path):
    load(city, tmp_path, "medical", settlements(
        (A, "2026-01-01", 5001), (A, "2025-12-31", 9999),       # 低保: 5,001 > 5,000 in 2026
        (B, "2026-03-01", 15000), (B, "2026-11-21", 5000),      # others: exactly 15,000, a future record ignored
        (C, "2026-11-20", 999), (C, "2026-06-01", 2),           # 特困: 1,001 > 1,000
    ))
    scan(city, AS_OF)
    assert alerts_of(city, "medical_annual") == [
        (A, "2026", "2026年个人自付医疗费用 5,001 元，超过低保对象阈值 5,000 元（统计期 2026-01-01 至 2026-11-20）"),
        (C, "2026", "2026年个人自付医疗费用 1,001 元，超过特困对象阈值 1,000 元（统计期 2026-01-01 至 2026-11-20）"),
    ]


def test_annual_threshold_minus_one_yuan_and_plus_one(city, tmp_path):
    load(city, tmp_path, "medical", settlements((A, "2026-05-01", 4999), (B, "2026-05-01", 15001)))
    scan(city, AS_OF)
    assert [r[0] for r in alerts_of(city, "medical_annual")] == [B]


def test_medical_surge_windows_and_thresholds(city, tmp_path):
    # Baseline window: 2025-08-23 .. 2026-08-22; recent window: 2026-08-23 .. 2026-11-20.
    load(city, tmp_path, "medical", settlements(
        (A, "2025-08-22", 100000),                               # before the baseline: ignored
        (A, "2026-08-22", 7300),                                 # baseline: avg 1,800 per 90 days -> needs 5,400
        (A, "2026-08-23", 5400),                                 # first day of the recent window
        (B, "2026-08-22", 7300), (B, "2026-11-20", 5399),        # 1 yuan short of 3x
        (C, "2026-11-20", 4999.99),                              # no baseline, but under 5,000
    ))
    scan(city, AS_OF)
    assert alerts_of(city, "medical_surge") == [
        (A, "2026-11", "近90天个人自付医疗费用 5,400 元，为此前365天平均每90天 1,800 元的 3.0 倍（阈值 3.0 倍，且不低于 5,000 元）"),
    ]


@pytest.mark.parametrize(("day", "raised"), [("2026-10-22", True), ("2026-10-21", False), ("2026-11-20", True), ("2026-11-21", False)])
def test_new_disability_window_edges(city, tmp_path, day, raised):
    load(city, tmp_path, "disability", [
        {"id_no": A, "cert_no": "D1", "disability_type": "肢体", "grade": "二级", "issue_date": day},
        {"id_no": B, "cert_no": "D2", "disability_type": "肢体", "grade": "三级", "issue_date": day},
    ])
    scan(city, AS_OF)
    expected = [(A, "D1", f"{day} 新办残疾人证：肢体 2级")] if raised else []
    assert alerts_of(city, "new_disability") == expected


def test_serious_illness_and_unemployment(city, tmp_path):
    load(city, tmp_path, "illness", [{"id_no": A, "diagnosis": "恶性肿瘤", "diagnose_date": "2026-10-22"},
                                     {"id_no": B, "diagnosis": "尿毒症", "diagnose_date": "2026-10-21"}])
    load(city, tmp_path, "unemployment", [{"id_no": A, "reg_type": "失业登记", "reg_date": "2026-11-01"},
                                          {"id_no": B, "reg_type": "就业登记", "reg_date": "2026-11-01"}])
    scan(city, AS_OF)
    assert alerts_of(city, "serious_illness") == [(A, f"{A}|恶性肿瘤", "2026-10-22 确诊重大疾病：恶性肿瘤")]
    assert alerts_of(city, "unemployment") == [(A, f"{A}|失业登记|2026-11-01", "2026-11-01 办理失业登记")]


def test_working_age_death_alerts_the_household(city, tmp_path):
    young = make_id("340705", "19661101", 21)  # turns 60 on the day of death
    old = make_id("340705", "19661031", 22)    # 60 on 2026-11-01
    teen = make_id("340705", "20101102", 23)   # 15 on 2026-11-01
    adult = make_id("340705", "19661102", 24)  # 59 on 2026-11-01
    load(city, tmp_path, "population", [
        {"id_no": who, "name": "成员", "hukou_no": f"D{i}", "relation": "子", "community": "金口岭社区", "grid": "第一网格"}
        for i, who in enumerate((young, old, teen, adult))
    ])
    load(city, tmp_path, "deaths", [{"id_no": who, "death_date": "2026-11-01"} for who in (young, old, teen, adult)])
    scan(city, AS_OF)
    rows = alerts_of(city, "working_age_death")
    assert rows == [("D3", adult, "2026-11-01 家庭成员死亡（59岁）")]
    assert city.conn.execute("SELECT subject, worker FROM alerts WHERE rule_id = 'working_age_death'").fetchone() == ("household", "网格员甲")


def contributions(who, periods, base=4000):
    return [{"id_no": who, "period": p, "base": base, "insurance_type": "养老"} for p in periods]


def months(first, last):
    out, (y, m) = [], divmod(first, 100)
    while y * 100 + m <= last:
        out.append(f"{y}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def test_contribution_gap(city, tmp_path):
    load(city, tmp_path, "social_insurance",
         contributions(A, months(202601, 202606))         # 6 paid, stops after 202606, latest 202609: gap 3
         + contributions(B, months(202602, 202606))       # only 5 paid
         + contributions(C, months(202601, 202609)))      # pays on: sets the latest period
    scan(city, AS_OF)
    assert alerts_of(city, "contribution_gap") == [
        (A, "202606", "最近一次社保缴费为 2026年06月，至数据最新月份 2026年09月已连续 3 个月没有记录（阈值 3 个月）；此前共 6 个月有记录"),
    ]


def test_contribution_gap_of_two_months_is_not_enough(city, tmp_path):
    load(city, tmp_path, "social_insurance", contributions(A, months(202601, 202607)) + contributions(C, months(202601, 202609)))
    scan(city, AS_OF)
    assert alerts_of(city, "contribution_gap") == []


def test_contribution_base_drop(city, tmp_path):
    load(city, tmp_path, "social_insurance",
         contributions(A, months(202507, 202606), 4000) + contributions(A, months(202607, 202609), 2800)
         + contributions(B, months(202507, 202606), 4000) + contributions(B, months(202607, 202609), 2801))
    scan(city, AS_OF)
    assert alerts_of(city, "contribution_base_drop") == [
        (A, "202609", "最近 3 个月平均缴费基数 2,800 元，比此前 12 个月的 4,000 元下降 30%（阈值 30%）"),
    ]


def household(store, folder, hukou, members, category="农村低保"):
    load(store, folder, "population", [
        {"id_no": who, "name": "成员", "hukou_no": hukou, "relation": rel, "community": "金口岭社区", "grid": "第一网格"}
        for who, rel in members
    ])
    load(store, folder, "assistance", [{"id_no": members[0][0], "category": category}])


def test_dibao_household_that_qualifies_for_tekun(city, tmp_path):
    old, wife, son = make_id("340706", "19540101", 31), make_id("340706", "19560101", 32), make_id("340706", "19900101", 33)
    household(city, tmp_path, "Y1", [(old, "户主"), (wife, "配偶"), (son, "子")])
    o2, w2, s2 = make_id("340706", "19540101", 41), make_id("340706", "19560101", 42), make_id("340706", "19900101", 43)
    household(city, tmp_path, "Y2", [(o2, "户主"), (w2, "配偶"), (s2, "子")])
    load(city, tmp_path, "disability", [
        {"id_no": old, "cert_no": "Q1", "disability_type": "肢体", "grade": 3, "issue_date": "2020-01-01"},
        {"id_no": son, "cert_no": "Q2", "disability_type": "精神", "grade": "二级", "issue_date": "2019-01-01"},
        {"id_no": s2, "cert_no": "Q3", "disability_type": "肢体", "grade": "三级", "issue_date": "2019-01-01"},
    ])
    scan(city, AS_OF)
    assert alerts_of(city, "dibao_to_tekun") == [
        ("Y1", "2026", "全户 3 人均符合特困供养条件：户主 72岁；配偶 70岁；子 持精神2级残疾"),
    ]


def test_low_income_member_entering_university(city, tmp_path):
    load(city, tmp_path, "students", [
        {"id_no": A, "school": "某大学", "stage": "本科", "enroll_date": "2026-08-23"},  # 低保, day 90
        {"id_no": B, "school": "某大学", "stage": "本科", "enroll_date": "2026-09-01"},  # not low income
        {"id_no": C, "school": "某中学", "stage": "高中", "enroll_date": "2026-09-01"},  # not university
    ])
    scan(city, AS_OF)
    assert alerts_of(city, "low_income_university") == [(A, f"{A}|某大学", "2026-08-23 入学：某大学 本科")]


def test_rescan_never_duplicates_and_dry_run_writes_nothing(city, tmp_path):
    load(city, tmp_path, "illness", [{"id_no": A, "diagnosis": "恶性肿瘤", "diagnose_date": "2026-11-01"}])
    preview = dry_run(city, AS_OF)
    assert city.conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    assert {r.rule: r.new for r in preview.rules}["serious_illness"] == 1
    first = scan(city, AS_OF)
    city.conn.execute("UPDATE alerts SET status = 'closed'")
    second = scan(city, AS_OF + dt.timedelta(days=3))
    assert (first.new, second.new) == (1, 0)
    assert {r.rule: (r.hits, r.new, r.stored) for r in dry_run(city, AS_OF).rules}["serious_illness"] == (1, 0, 1)


def test_routing_and_unassigned_queue(city, tmp_path):
    stranger = make_id("340705", "19700707", 51)
    load(city, tmp_path, "illness", [{"id_no": A, "diagnosis": "白血病", "diagnose_date": "2026-11-01"},
                                     {"id_no": stranger, "diagnosis": "白血病", "diagnose_date": "2026-11-01"}])
    result = scan(city, AS_OF)
    assert result.unassigned == 1
    rows = list_alerts(city, masker=Masker(), with_refs=True)
    assert [(r["id_no"], r["worker"], r["community"]) for r in rows] == [
        (stranger[:4] + "*" * 10 + stranger[-4:], None, None),
        (A[:4] + "*" * 10 + A[-4:], "网格员甲", "金口岭社区"),
    ]
    assert rows[1]["name"] == "测*" and rows[1]["worker_phone"] == "138****1111"
    assert rows[1]["refs"][0]["file"].startswith("illness-") and rows[1]["refs"][0]["row"] == 2
    # The person's household data arrives later: the next scan routes the open alert.
    load(city, tmp_path, "population", [{"id_no": stranger, "name": "测丁", "hukou_no": "H9", "community": "金口岭社区", "grid": "第一网格"}])
    assert scan(city, AS_OF).unassigned == 0


@pytest.mark.parametrize(("raised", "due"), [
    ("2026-09-28", "2026-10-10"),  # National Day: the swapped Saturday 10-10 is a working day
    ("2026-09-30", "2026-10-13"),  # 10-08, 10-09, 10-10 (Saturday, working), 10-12, 10-13
    ("2026-02-12", "2026-02-26"),  # Spring Festival, with the swapped Saturday 02-14
    ("2026-02-14", "2026-02-28"),  # raised on a swapped Saturday: 02-24..02-27, then Saturday 02-28
])
def test_due_dates_on_chinas_calendar(city, tmp_path, raised, due):
    load(city, tmp_path, "illness", [{"id_no": A, "diagnosis": "白血病", "diagnose_date": raised}])
    scan(city, dt.date.fromisoformat(raised))
    assert city.conn.execute("SELECT raised_on, due_on FROM alerts").fetchone() == (raised, due)
    assert WorkCalendar().add_workdays(dt.date.fromisoformat(raised), 5).isoformat() == due


def test_a_year_the_library_lacks_comes_from_rules_yaml(db, tmp_path, config):
    raw = config.settings.model_dump(mode="json")
    # Suppose the 2027 Spring Festival schedule: 02-11 and 02-12 off, Saturday 02-20 a workday.
    raw["calendar"] = {"holidays": ["2027-02-11", "2027-02-12"], "workdays": ["2027-02-20"]}
    cfg = config_from_mapping(raw)
    cal = WorkCalendar.from_settings(cfg.settings.calendar)
    assert not cal.is_workday(dt.date(2027, 2, 11)) and cal.is_workday(dt.date(2027, 2, 20))
    with Store(db, cfg) as store:
        load(store, tmp_path, "illness", [{"id_no": A, "diagnosis": "白血病", "diagnose_date": "2027-02-09"}])
        scan(store, dt.date(2027, 2, 9))
        # 02-10 (1), 02-11/12 holiday, 02-15 (2), 02-16 (3), 02-17 (4), 02-18 (5)... the library's own
        # 2027 holidays (02-05..02-10 observed) also apply, so count from what both say:
        assert store.conn.execute("SELECT due_on FROM alerts").fetchone()[0] == cal.add_workdays(dt.date(2027, 2, 9), 5).isoformat()
    assert cal.add_workdays(dt.date(2027, 2, 9), 5) != WorkCalendar().add_workdays(dt.date(2027, 2, 9), 5)


def sql_rule(config, query):
    raw = config.settings.model_dump(mode="json")
    raw["rules"] = [{"id": "own", "name": "自定义", "kind": "sql", "family": "支出骤增", "severity": "黄", "query": query}]
    return config_from_mapping(raw).rules[0]


def test_an_sql_rule_raises_alerts_on_either_store(city, tmp_path, config):
    load(city, tmp_path, "illness", [{"id_no": A, "diagnosis": "白血病", "diagnose_date": "2026-11-01"},
                                     {"id_no": B, "diagnosis": "尿毒症", "diagnose_date": "2026-11-21"}])
    rule = sql_rule(config, "SELECT i.id_no AS subject_key, :year || '|' || i.diagnosis AS period, "
                            "'自定义：' || i.diagnosis || '（' || p.category || '）' AS evidence "
                            "FROM src_illness i JOIN _person p ON p.id_no = i.id_no WHERE i.diagnose_date <= :as_of")
    assert scan(city, AS_OF, rules=[rule]).new == 1
    assert alerts_of(city, "own") == [(A, "2026|白血病", "自定义：白血病（低保）")]
    assert city.conn.execute("SELECT worker, refs FROM alerts WHERE rule_id = 'own'").fetchone() == ("网格员甲", "[]")


def test_an_sql_rule_that_would_write_is_refused(city, tmp_path, config):
    load(city, tmp_path, "illness", [{"id_no": A, "diagnosis": "白血病", "diagnose_date": "2026-11-01"}])
    scan(city, AS_OF)
    rule = sql_rule(config, "WITH gone AS (DELETE FROM alerts RETURNING id) "
                            "SELECT id AS subject_key, 1 AS period, 'x' AS evidence FROM gone")
    # SQLite has no DELETE inside WITH; on a server the statement's parse tree shows it
    refused = "只能读取数据" if city.pg else "有误，SQLite 无法执行：在「DELETE」附近有语法错误"
    with pytest.raises(RuleQueryRefused, match=f"^规则「own」（自定义）的查询{refused}$"):
        scan(city, AS_OF, rules=[rule])
    if not city.pg:  # a statement SQLite parses but its authorizer refuses (a pragma)
        pragma = sql_rule(config, "SELECT name AS subject_key, 1 AS period, 'x' AS evidence FROM pragma_table_info('alerts')")
        with pytest.raises(RuleQueryRefused, match="^规则「own」（自定义）的查询只能读取数据$"):
            scan(city, AS_OF, rules=[pragma])
    if not city.pg:  # the rule names what is not there: said in Chinese, with the rule's own name for it
        unknown = sql_rule(config, "SELECT id_no AS subject_key, 1 AS period, no_such_field AS evidence FROM src_illness")
        with pytest.raises(RuleQueryRefused, match="^规则「own」（自定义）的查询有误，SQLite 无法执行：没有列 no_such_field$"):
            scan(city, AS_OF, rules=[unknown])
    missing = sql_rule(config, "SELECT id_no AS subject_key, 'x' AS evidence FROM src_illness")
    with pytest.raises(RuleQueryRefused, match="^规则「own」（自定义）的查询缺少列：period$"):
        scan(city, AS_OF, rules=[missing])
    assert city.conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    if city.pg:  # a server's SELECT may call a function that writes: the rule's query runs read-only
        pg_admin("CREATE FUNCTION sneaky() RETURNS bigint LANGUAGE sql AS 'DELETE FROM alerts RETURNING 1'",
                 database=pg_name(city.url))
        rule = sql_rule(config, "SELECT id_no AS subject_key, sneaky() AS period, 'x' AS evidence FROM src_illness")
        with pytest.raises(StoreError):
            scan(city, AS_OF, rules=[rule])
        assert city.conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
