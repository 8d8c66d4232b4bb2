"""Household-level models: the household's total crosses where no member does, and the reverse."""

from __future__ import annotations

import datetime as dt

import pytest

from relief_cli.checklist import build_checklist
from relief_cli.config import config_from_mapping
from relief_cli.scan import scan
from relief_cli.store import Store
from conftest import load, make_id

AS_OF = dt.date(2026, 11, 20)
HEAD, WIFE = make_id("340705", "19800101", 71), make_id("340705", "19820202", 72)
SOLO, OTHER = make_id("340705", "19750303", 73), make_id("340705", "19700404", 74)


def people(store, folder, households):
    """households: {hukou: [(id_no, relation, name), ...]} in 金口岭社区 第一网格."""
    load(store, folder, "population", [
        {"id_no": who, "name": name, "hukou_no": hukou, "relation": rel, "community": "金口岭社区", "grid": "第一网格"}
        for hukou, members in households.items() for who, rel, name in members
    ])


@pytest.fixture()
def city(store, tmp_path):
    load(store, tmp_path, "grids", [
        {"district": "铜官区", "town": "幸福街道", "community": "金口岭社区", "grid": "第一网格", "worker": "网格员甲", "worker_phone": "13800001111"},
    ])
    people(store, tmp_path, {
        "F1": [(HEAD, "户主", "贾建华"), (WIFE, "配偶", "甄秀梅")],
        "F2": [(SOLO, "户主", "贾志强"), (OTHER, "配偶", "甄丽")],
    })
    return store


def alerts_of(store, rule):
    return store.conn.execute(
        "SELECT subject, subject_key, period, evidence FROM alerts WHERE rule_id = ? ORDER BY subject_key, period", (rule,)
    ).fetchall()


def settlements(*items):
    return [{"settlement_no": f"S{i}", "id_no": who, "settle_date": day, "visit_type": "门诊", "oop": amount}
            for i, (who, day, amount) in enumerate(items)]


def contributions(who, periods, base=4000):
    return [{"id_no": who, "period": p, "base": base, "insurance_type": "养老"} for p in periods]


def months(first, last, skip=()):
    out, (y, m) = [], divmod(first, 100)
    while y * 100 + m <= last:
        if y * 100 + m not in skip:
            out.append(f"{y}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# -- 家庭支出骤增 --------------------------------------------------------------

def test_household_spending_surges_though_no_member_does(city, tmp_path):
    # Recent window 2026-08-23 .. 2026-11-20; baseline 2025-08-23 .. 2026-08-22.
    load(city, tmp_path, "medical", settlements(
        (HEAD, "2026-03-01", 1000), (HEAD, "2026-10-01", 3000),   # 3,000 recent: 12x, but under 5,000
        (WIFE, "2026-02-01", 500), (WIFE, "2026-11-01", 2500),    # 2,500 recent: 20x, under 5,000
    ))
    scan(city, AS_OF)
    assert alerts_of(city, "medical_surge") == []
    assert alerts_of(city, "household_medical_surge") == [(
        "household", "F1", "2026-11",
        "全户 2 人近90天个人自付医疗费用 5,500 元，为此前365天平均每90天 369.86 元的 14.9 倍（阈值 3.0 倍，且不低于 5,000 元）"
        "；各成员近90天（此前平均每90天）：户主 贾** 3,000 元（246.58 元）、配偶 甄** 2,500 元（123.29 元）",
    )]
    row = city.conn.execute("SELECT family, worker, hukou_no, id_no FROM alerts WHERE rule_id = 'household_medical_surge'").fetchone()
    assert row == ("支出骤增", "网格员甲", "F1", None)


def test_a_member_surges_but_the_household_does_not(city, tmp_path):
    load(city, tmp_path, "medical", settlements(
        (SOLO, "2026-11-01", 6000),                               # alone: 6,000 after nothing
        (OTHER, "2026-01-10", 30000),                             # the household spent 7,397 per 90 days before
    ))
    scan(city, AS_OF)
    assert [r[:2] for r in alerts_of(city, "medical_surge")] == [("person", SOLO)]
    assert alerts_of(city, "household_medical_surge") == []


def test_household_spending_one_yuan_under_the_floor(city, tmp_path):
    load(city, tmp_path, "medical", settlements((HEAD, "2026-10-01", 2500), (WIFE, "2026-11-01", 2499.99)))
    scan(city, AS_OF)
    assert alerts_of(city, "household_medical_surge") == []


def household_rule(config, rule_id, **changes):
    raw = config.settings.model_dump(mode="json")
    raw["rules"] = [dict(r, **changes) if r["id"] == rule_id else r for r in raw["rules"]]
    return config_from_mapping(raw)


@pytest.mark.parametrize(("changes", "raised", "threshold"), [
    ({"min_recent_by_size": {1: 5000, 2: 6000}}, False, None),         # a couple needs 6,000
    ({"min_recent_by_size": {1: 5000, 3: 6000}}, True, "不低于 5,000 元，按 2 人户"),
    ({"per_capita": True, "min_recent": 2750}, True, "人均不低于 2,750 元"),
    ({"per_capita": True, "min_recent": 2750.01}, False, None),
])
def test_thresholds_by_household_size_and_per_capita(config, db, tmp_path, changes, raised, threshold):
    cfg = household_rule(config, "household_medical_surge", **changes)
    with Store(db, cfg) as store:
        people(store, tmp_path, {"F1": [(HEAD, "户主", "贾建华"), (WIFE, "配偶", "甄秀梅")]})
        load(store, tmp_path, "medical", settlements((HEAD, "2026-10-01", 3000), (WIFE, "2026-11-01", 2500)))
        scan(store, AS_OF)
        rows = alerts_of(store, "household_medical_surge")
    assert bool(rows) == raised
    if raised:
        assert f"（阈值 3.0 倍，且{threshold}）" in rows[0][3]


def test_household_size_counts_living_members_only(config, db, tmp_path):
    cfg = household_rule(config, "household_medical_surge", per_capita=True, min_recent=5000)
    with Store(db, cfg) as store:
        people(store, tmp_path, {"F1": [(HEAD, "户主", "贾建华"), (WIFE, "配偶", "甄秀梅")]})
        load(store, tmp_path, "deaths", [{"id_no": WIFE, "death_date": "2026-09-01"}])
        load(store, tmp_path, "medical", settlements((HEAD, "2026-10-01", 2500), (WIFE, "2026-08-30", 2500)))
        scan(store, AS_OF)
        (row,) = alerts_of(store, "household_medical_surge")
    assert row[3].startswith("全户 1 人近90天个人自付医疗费用 5,000 元")
    assert "配偶 甄**（已于 2026-09-01 死亡） 2,500 元（0 元）" in row[3]


# -- 家庭收入骤减 --------------------------------------------------------------

def test_household_income_drops_though_no_member_crosses(city, tmp_path):
    load(city, tmp_path, "social_insurance",
         contributions(HEAD, months(202507, 202610))     # steady 4,000: sets the latest period 202610
         + contributions(WIFE, months(202507, 202608)))  # stops after 202608: a gap of 2 months only
    scan(city, AS_OF)
    for rule in ("contribution_gap", "contribution_base_drop", "household_earner_stopped", "household_income_unstable"):
        assert alerts_of(city, rule) == [], rule
    assert alerts_of(city, "household_income_drop") == [(
        "household", "F1", "202610",
        "全户 2 人最近 3 个月平均每月缴费基数合计 5,333.33 元，比此前 12 个月平均每月 8,000 元下降 33%（阈值 30%）"
        "；各成员最近 3 个月月均（此前月均）：户主 贾** 4,000 元（4,000 元）、配偶 甄** 1,333.33 元（4,000 元）",
    )]


def test_a_member_base_drops_but_the_household_income_does_not(city, tmp_path):
    load(city, tmp_path, "social_insurance",
         contributions(SOLO, months(202507, 202607), 4000) + contributions(SOLO, months(202608, 202610), 2800)
         + contributions(OTHER, months(202507, 202607), 4000) + contributions(OTHER, months(202608, 202610), 5200))
    scan(city, AS_OF)
    assert [r[:2] for r in alerts_of(city, "contribution_base_drop")] == [("person", SOLO)]
    assert alerts_of(city, "household_income_drop") == []


def test_working_age_member_stops_and_nobody_starts(city, tmp_path):
    retiree = make_id("340705", "19660715", 75)  # 60 on 2026-08-01, the first month without a record
    starter, stopper = make_id("340705", "19900101", 76), make_id("340705", "19880101", 77)
    people(city, tmp_path, {"F3": [(retiree, "户主", "贾福生")], "F4": [(stopper, "户主", "贾小军"), (starter, "配偶", "甄桂兰")]})
    load(city, tmp_path, "social_insurance",
         contributions(HEAD, months(202501, 202607))                          # 46, stops after 202607
         + contributions(SOLO, months(202501, 202610))                        # another household: latest 202610
         + contributions(retiree, months(202501, 202607))
         + contributions(stopper, months(202501, 202607)) + contributions(starter, months(202609, 202610), 3000))
    scan(city, AS_OF)
    assert alerts_of(city, "household_earner_stopped") == [(
        "household", "F1", "202607",
        "户主 贾**（46岁）最近一次社保缴费为 2026年07月，至数据最新月份 2026年10月已连续 3 个月没有记录（阈值 3 个月）"
        "，家中没有其他成员开始缴费；各成员：户主 贾** 最近 2026年07月 基数 4,000 元、配偶 甄** 无记录",
    )]


# -- 家庭收入无法持续稳定 ------------------------------------------------------

def test_income_that_keeps_breaking_off_or_swings(city, tmp_path):
    gaps = (202601, 202604, 202607)
    load(city, tmp_path, "social_insurance",
         contributions(HEAD, months(202507, 202610), 8000)                    # steady
         + contributions(WIFE, months(202507, 202610, skip=gaps), 2000)       # 3 separate breaks, small share
         + contributions(SOLO, [p for p in months(202507, 202610) if int(p) % 2], 2000)   # swings 2,000 / 10,000
         + contributions(SOLO, [p for p in months(202507, 202610) if not int(p) % 2], 10000))
    scan(city, AS_OF)
    assert alerts_of(city, "household_income_unstable") == [
        ("household", "F1", "202610",
         "近 12 个月（2025年11月至2026年10月）全户每月缴费基数合计平均 9,500 元，最低 8,000 元、最高 10,000 元，"
         "变异系数 0.09（阈值 0.5），成员缴费中断共 3 次（阈值 3 次）；各成员：户主 贾** 12 个月有记录、中断 0 次、"
         "月均 8,000 元、配偶 甄** 9 个月有记录、中断 3 次、月均 2,000 元"),
        ("household", "F2", "202610",
         "近 12 个月（2025年11月至2026年10月）全户每月缴费基数合计平均 6,000 元，最低 2,000 元、最高 10,000 元，"
         "变异系数 0.67（阈值 0.5），成员缴费中断共 0 次（阈值 3 次）；各成员：户主 贾** 12 个月有记录、中断 0 次、月均 6,000 元"),
    ]


def test_steady_income_and_a_new_job_are_not_unstable(city, tmp_path):
    load(city, tmp_path, "social_insurance",
         contributions(HEAD, months(202507, 202610), 8000)
         + contributions(WIFE, months(202507, 202610, skip=(202601, 202604)), 2000)   # two breaks only
         + contributions(SOLO, months(202605, 202610), 6000))                          # started in May: no gap before
    scan(city, AS_OF)
    assert alerts_of(city, "household_income_unstable") == []


# -- who counts as in a category, and the dead ---------------------------------

def test_a_member_whose_own_roster_row_ended_inherits_no_category(city, tmp_path):
    load(city, tmp_path, "assistance", [{"id_no": HEAD, "category": "城市低保"},
                                        {"id_no": WIFE, "category": "城市低保", "status": "停发"},
                                        {"id_no": SOLO, "category": "城市低保"}])
    load(city, tmp_path, "medical", settlements((WIFE, "2026-05-01", 6000), (OTHER, "2026-05-01", 5001)))
    scan(city, AS_OF)
    # 甄秀梅 is judged as 非低收入人口 (15,000), her husband's household notwithstanding; 甄丽 has no row
    # of her own and takes her household's 低保 (5,000).
    assert [r[1] for r in alerts_of(city, "medical_annual")] == [OTHER]


def test_a_dead_persons_hits_go_to_the_household(city, tmp_path):
    load(city, tmp_path, "deaths", [{"id_no": WIFE, "death_date": "2026-11-10"}])
    load(city, tmp_path, "illness", [{"id_no": WIFE, "diagnosis": "恶性肿瘤", "diagnose_date": "2026-11-01"},
                                     {"id_no": OTHER, "diagnosis": "白血病", "diagnose_date": "2026-11-01"}])
    load(city, tmp_path, "medical", settlements((WIFE, "2026-06-01", 16000)))
    scan(city, AS_OF)
    assert alerts_of(city, "serious_illness") == [
        ("person", OTHER, f"{OTHER}|白血病", "2026-11-01 确诊重大疾病：白血病"),
        ("household", "F1", f"{WIFE}|恶性肿瘤", "2026-11-01 确诊重大疾病：恶性肿瘤（配偶 甄** 已于 2026-11-10 死亡，预警到户）"),
    ]
    assert alerts_of(city, "medical_annual") == [
        ("household", "F1", f"2026|{WIFE}", "2026年个人自付医疗费用 16,000 元，超过非低收入人口对象阈值 15,000 元"
         "（统计期 2026-01-01 至 2026-11-20）（配偶 甄** 已于 2026-11-10 死亡，预警到户）"),
    ]
    assert city.conn.execute("SELECT count(*) FROM alerts WHERE id_no = ?", (WIFE,)).fetchone()[0] == 0
    # died after the scan date: still a person on that date
    scan(city, dt.date(2026, 11, 9))
    assert ("person", WIFE) in [r[:2] for r in alerts_of(city, "serious_illness")]


def test_a_dead_person_taken_off_the_population_list_still_goes_to_the_household(city, tmp_path):
    import csv

    from relief_cli.importer import import_paths

    load(city, tmp_path, "deaths", [{"id_no": WIFE, "death_date": "2026-11-05"}])
    load(city, tmp_path, "illness", [{"id_no": WIFE, "diagnosis": "恶性肿瘤", "diagnose_date": "2026-10-25"}])
    path = tmp_path / "户籍人口-11月.csv"
    with path.open("w", encoding="utf-8", newline="") as f:  # the November list, without her
        w = csv.writer(f)
        w.writerow(["id_no", "name", "hukou_no", "relation", "community", "grid"])
        w.writerows([[HEAD, "贾建华", "F1", "户主", "金口岭社区", "第一网格"],
                     [SOLO, "贾志强", "F2", "户主", "金口岭社区", "第一网格"],
                     [OTHER, "甄丽", "F2", "配偶", "金口岭社区", "第一网格"]])
    assert import_paths(city, [path], source="population", as_of=dt.date(2026, 11, 10),
                        allow_shrink=True).sheets[0].ended == 1
    scan(city, AS_OF)
    assert alerts_of(city, "serious_illness") == [
        ("household", "F1", f"{WIFE}|恶性肿瘤", "2026-10-25 确诊重大疾病：恶性肿瘤（配偶 甄** 已于 2026-11-05 死亡，预警到户）"),
    ]
    assert city.conn.execute("SELECT worker FROM alerts WHERE rule_id = 'serious_illness'").fetchone() == ("网格员甲",)


# -- one family, one visit ------------------------------------------------------

def test_checklist_lists_a_family_once_with_its_person_and_household_reasons(city, tmp_path):
    load(city, tmp_path, "medical", settlements((HEAD, "2026-10-01", 5200), (WIFE, "2026-11-01", 800)))
    scan(city, AS_OF)
    cl = build_checklist(city, "金口岭", AS_OF)
    (grid,) = cl.grids
    assert [h.hukou_no for h in grid.households] == ["F1"]
    (family,) = grid.households
    assert [(r.kind, r.rule) for r in family.reasons] == [("突发困难", "medical_surge"), ("突发困难", "household_medical_surge")]
    assert family.reasons[1].detail.startswith("家庭医疗支出骤增：全户 2 人近90天个人自付医疗费用 6,000 元")
    assert "户主 贾** 5,200 元（0 元）、配偶 甄** 800 元（0 元）" in family.reasons[1].detail
    assert {q.id: q.prompt for q in family.questions}["medical_education"].startswith("家里哪些人在看病")
    # both alerts are reasons of the one visit, so one returned row of the visit sheet closes both
    assert all(r.alert_id for r in family.reasons)
