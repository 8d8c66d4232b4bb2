from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relief_cli.config import ConfigError, default_rules_path, load_config

ROOT = Path(__file__).parent.parent


def test_shipped_rules_equal_the_package_copy():
    assert (ROOT / "rules.yaml").read_text(encoding="utf-8") == default_rules_path().read_text(encoding="utf-8")


def test_default_rules_are_valid_and_carry_the_reference_thresholds():
    cfg = load_config(ROOT / "rules.yaml")
    rules = {r.id: r for r in cfg.rules}
    assert len(rules) == 14
    assert {r.id for r in cfg.rules if r.subject == "household"} == {
        "working_age_death", "dibao_to_tekun", "household_medical_surge", "household_income_drop",
        "household_earner_stopped", "household_income_unstable"}
    surge = rules["household_medical_surge"]
    assert (surge.recent, surge.baseline, surge.min_ratio, surge.min_recent) == (90, 365, 3, 5000)
    assert rules["household_income_drop"].max_ratio == 0.7 and rules["household_earner_stopped"].age == (16, 59)
    assert (rules["household_income_unstable"].min_cv, rules["household_income_unstable"].min_gaps) == (0.5, 3)
    annual = rules["medical_annual"]
    assert annual.thresholds == {"特困": 1000, "低保": 5000, "低保边缘": 10000, "刚性支出困难": 10000, "防止返贫监测": 10000}
    assert annual.default_threshold == 15000
    assert {r.family for r in cfg.rules} == {"支出骤增", "收入骤减", "收入不稳定", "类别升级"}


def broken(tmp_path, mutate) -> list[str]:
    raw = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    return [p.replace(str(path), "rules.yaml") for p in e.value.problems]


def test_every_problem_is_reported_at_once_naming_the_key(tmp_path):
    def mutate(raw):
        raw["visit_working_dayz"] = 5
        raw["sources"]["medical"]["fields"]["oop"]["type"] = "money"
        raw["sources"]["deaths"]["key"] = ["id_no", "dod"]
        raw["rules"][1]["recent"] = "ninety"
        raw["rules"][2]["kind"] = "magic"
        del raw["rules"][3]["days"]

    problems = broken(tmp_path, mutate)
    assert problems == [
        "rules.yaml: sources.deaths: key、filled_when、index 或 full_list.scope 中的字段未在 fields 中定义：dod",
        "rules.yaml: sources.medical.fields.oop.type: 取值应为 'id', 'name', 'phone', 'text', 'date', 'period', 'amount', 'grade', 'category', 'int' 之一",
        "rules.yaml: visit_working_dayz: 未知的键（请检查拼写）",
        "rules.yaml: rules[1] (id: medical_surge).recent: 应为整数",
        "rules.yaml: rules[2] (id: serious_illness).kind: 未知的规则类型 'magic'，可选：household_all, household_ratio, household_stability, household_stopped, monthly_gap, new_event, sql, window_ratio, window_sum",
        "rules.yaml: rules[3] (id: new_disability).days: 缺少必填的键",
    ]


def test_rule_cross_references_are_checked(tmp_path):
    def mutate(raw):
        raw["rules"][0]["thresholds"]["特困户"] = 100
        raw["rules"][4]["source"] = "nowhere"
        raw["rules"][5]["where"] = {"reg_kind": ["失业登记"]}
        raw["rules"][1]["id"] = "medical_annual"

    assert broken(tmp_path, mutate) == [
        "rules.yaml: rules[0] (id: medical_annual).thresholds.特困户: 未定义的救助类别",
        "rules.yaml: rules[1] (id: medical_annual).id: 规则编号重复",
        "rules.yaml: rules[4] (id: working_age_death).source: 未定义的数据来源 'nowhere'",
        "rules.yaml: rules[5] (id: unemployment).where.reg_kind: 来源 unemployment 没有字段 'reg_kind'",
    ]


def test_yaml_syntax_and_missing_file(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML 格式错误"):
        load_config(bad)
    with pytest.raises(ConfigError, match="找不到规则文件"):
        load_config(tmp_path / "none.yaml")


def test_sql_rule_must_be_a_single_select(tmp_path):
    def mutate(raw):
        raw["rules"].append({"id": "x", "name": "x", "family": "支出骤增", "severity": "黄", "kind": "sql",
                             "query": "DELETE FROM alerts"})

    assert broken(tmp_path, mutate) == ["rules.yaml: rules[14] (id: x).query: query 只能是 SELECT（或 WITH … SELECT）查询"]


def test_household_rule_options_are_checked_naming_the_key(tmp_path):
    def mutate(raw):
        ids = {r["id"]: r for r in raw["rules"]}
        ids["household_medical_surge"]["min_recent_by_size"] = {0: 3000}
        ids["household_income_drop"]["value"] = "grade"
        ids["household_earner_stopped"]["age"] = [60, 16]
        del ids["household_income_unstable"]["min_cv"]

    assert broken(tmp_path, mutate) == [
        "rules.yaml: rules[10] (id: household_medical_surge).min_recent_by_size: min_recent_by_size 的键是户人数（≥ 1），值是金额（≥ 0）",
        "rules.yaml: rules[11] (id: household_income_drop).value: 来源 social_insurance 没有字段 'grade'",
        "rules.yaml: rules[12] (id: household_earner_stopped): age 应为 [最小年龄, 最大年龄]，如 [16, 59]",
        "rules.yaml: rules[13] (id: household_income_unstable).min_cv: 缺少必填的键",
    ]
