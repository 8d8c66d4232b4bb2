"""Full lists that shrink: the roster, 户籍人口 and the grid table are re-sent whole each month;
whoever a newer list no longer names has left it, with history kept and scans as of a date
using the entries valid on that date."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from relief_cli.cli import app
from relief_cli.config import config_from_mapping, default_rules_path
from relief_cli.importer import import_paths
from relief_cli.scan import dry_run
from relief_cli.store import Store
from conftest import load, make_id

PEOPLE = [make_id("340705", "19800101", n) for n in range(21, 27)]  # six people on the roster
A = PEOPLE[0]


def roster_file(folder: Path, name: str, people: list[str]) -> Path:
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["身份证号", "姓名", "救助类别", "认定日期"])
        for person in people:
            writer.writerow([person, "测试", "城市低保", "2024-01-01"])
    return path


def month(store: Store, folder: Path, name: str, people: list[str], day: str, **kwargs):
    return import_paths(store, [roster_file(folder, name, people)], as_of=dt.date.fromisoformat(day), **kwargs)


def valid(store: Store, day: str) -> set[str]:
    store.valid_views(day)
    return {r[0] for r in store.conn.execute("SELECT id_no FROM _valid_assistance")}


def test_someone_leaves_in_month_two_and_returns_in_month_three(store, tmp_path):
    first = month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    assert [(s.imported, s.ended) for s in first.sheets] == [(6, 0)]
    second = month(store, tmp_path, "m2.csv", PEOPLE[1:], "2026-09-30")
    assert [(s.rows, s.imported, s.updated, s.unchanged, s.ended) for s in second.sheets] == [(5, 0, 0, 5, 1)]
    row = store.conn.execute("SELECT _valid_from, _valid_to, _ended_by FROM src_assistance WHERE id_no = ?", (A,)).fetchone()
    assert row == (None, "2026-09-30", 2)  # kept, not deleted: ended by the second import
    third = month(store, tmp_path, "m3.csv", PEOPLE, "2026-10-31")
    assert [(s.unchanged, s.ended) for s in third.sheets] == [(6, 0)]
    assert store.conn.execute("SELECT _valid_from, _valid_to FROM src_assistance WHERE id_no = ?", (A,)).fetchone() == (
        "2026-10-31", None)
    assert store.conn.execute("SELECT key, valid_from, valid_to, ended_by, reopened_by FROM list_spans").fetchall() == [
        (f"{A}|低保", None, "2026-09-30", 2, 3)]
    assert A in valid(store, "2026-09-29")
    assert A not in valid(store, "2026-09-30") and A not in valid(store, "2026-10-30")
    assert A in valid(store, "2026-10-31") and A in valid(store, "2026-12-01")
    assert valid(store, "2026-10-15") == set(PEOPLE[1:])


def test_a_truncated_list_is_refused_unless_allowed(store, tmp_path):
    month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    refused = month(store, tmp_path, "m2.csv", PEOPLE[:4], "2026-09-30")  # 2 of 6 would leave: 33 %
    assert refused.sheets == []
    assert [f.reason for f in refused.failures] == [
        "这是「救助对象名册」的整表，导入后将移出 2 条（原有 6 条的 33%，超过 20%），可能是导出不完整，该文件未导入；"
        "确认名单确实减少了这么多时，请加 --allow-shrink 重新导入"]
    assert valid(store, "2026-10-15") == set(PEOPLE)
    assert store.conn.execute("SELECT count(*) FROM imports").fetchone()[0] == 1  # the refused file left nothing
    allowed = month(store, tmp_path, "m2.csv", PEOPLE[:4], "2026-09-30", allow_shrink=True)
    assert [s.ended for s in allowed.sheets] == [2]
    assert valid(store, "2026-10-15") == set(PEOPLE[:4])


def test_one_in_five_is_not_a_shrink(store, tmp_path):
    month(store, tmp_path, "m1.csv", PEOPLE[:5], "2026-08-31")
    assert [s.ended for s in month(store, tmp_path, "m2.csv", PEOPLE[:4], "2026-09-30").sheets] == [1]  # 20 %: allowed


def test_a_supplement_ends_nobody(store, tmp_path):
    month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    added = month(store, tmp_path, "extra.csv", [make_id("340705", "19800101", 40)], "2026-09-10", partial=True)
    assert [(s.imported, s.ended) for s in added.sheets] == [(1, 0)]
    assert len(valid(store, "2026-09-15")) == 7


def test_a_scan_threshold_changes_when_a_person_leaves_the_roster(store, tmp_path):
    load(store, tmp_path, "population", [{"id_no": p, "name": "测试", "hukou_no": f"H{i}", "relation": "户主",
                                          "community": "金口岭社区", "grid": "第一网格"} for i, p in enumerate(PEOPLE)])
    load(store, tmp_path, "medical", [{"settlement_no": "S1", "id_no": A, "settle_date": "2026-08-10",
                                       "visit_type": "住院", "oop": 6000}])
    month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    month(store, tmp_path, "m2.csv", PEOPLE[1:], "2026-09-30")
    month(store, tmp_path, "m3.csv", PEOPLE, "2026-10-31")

    def annual_hits(day: str) -> int:
        result = dry_run(store, dt.date.fromisoformat(day))
        return next(r.hits for r in result.rules if r.rule == "medical_annual")

    assert annual_hits("2026-09-15") == 1  # 低保: 6,000 > 5,000
    assert annual_hits("2026-10-15") == 0  # left the roster: judged against 15,000
    assert annual_hits("2026-11-15") == 1  # back on it


def scoped_config():
    import yaml

    raw = yaml.safe_load(default_rules_path().read_text(encoding="utf-8"))
    raw["sources"]["grids"]["full_list"] = {"scope": ["district"]}
    return config_from_mapping(raw)


def grid_file(folder: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["区县", "乡镇", "社区", "网格名称", "网格员"])
        for district, community, grid in rows:
            writer.writerow([district, "某街道", community, grid, "网格员"])
    return path


def test_a_district_file_ends_only_its_own_district(db, tmp_path):
    with Store(db, scoped_config()) as store:
        east = [("铜官区", f"东{n}社区", "第1网格") for n in range(6)]
        west = [("义安区", f"西{n}社区", "第1网格") for n in range(6)]
        import_paths(store, [grid_file(tmp_path, "east.csv", east)], as_of=dt.date(2026, 9, 30))
        import_paths(store, [grid_file(tmp_path, "west.csv", west)], as_of=dt.date(2026, 9, 30))
        newer = import_paths(store, [grid_file(tmp_path, "east2.csv", east[1:])], as_of=dt.date(2026, 10, 31))
        assert [s.ended for s in newer.sheets] == [1]
        store.valid_views("2026-11-01")
        left = {r[0] for r in store.conn.execute("SELECT community FROM _valid_grids")}
        assert left == {c for _, c, _ in east[1:] + west}


def test_the_import_summary_shows_who_left(db, tmp_path):
    runner = CliRunner()
    roster_file(tmp_path, "m1.csv", PEOPLE)
    roster_file(tmp_path, "m2.csv", PEOPLE[1:])
    roster_file(tmp_path, "m3.csv", PEOPLE[1:3])
    assert runner.invoke(app, ["import", str(tmp_path / "m1.csv"), "--db", str(db), "--as-of", "2026-08-31"]).exit_code == 0
    second = runner.invoke(app, ["import", str(tmp_path / "m2.csv"), "--db", str(db), "--as-of", "2026-09-30"],
                           env={"COLUMNS": "120"})
    assert second.exit_code == 0
    assert "移出" in second.stdout and "m2.csv" in second.stdout
    refused = runner.invoke(app, ["import", str(tmp_path / "m3.csv"), "--db", str(db), "--format", "json",
                                  "--as-of", "2026-10-31"])
    assert refused.exit_code == 1 and "请加 --allow-shrink 重新导入" in refused.stderr
    allowed = runner.invoke(app, ["import", str(tmp_path / "m3.csv"), "--db", str(db), "--format", "json",
                                  "--as-of", "2026-10-31", "--allow-shrink"])
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)[0]["ended"] == 3


def test_a_rejected_row_does_not_take_its_person_off_the_list(store, tmp_path):
    month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    path = roster_file(tmp_path, "m2.csv", PEOPLE)
    path.write_text(path.read_text(encoding="utf-8").replace(f"{A},测试,城市低保", f"{A},测试,城市低保户X"), encoding="utf-8")
    second = import_paths(store, [path], as_of=dt.date(2026, 9, 30))
    assert [(s.rejected, s.ended) for s in second.sheets] == [(1, 0)]
    assert A in valid(store, "2026-10-15")


def test_the_same_person_rejected_twice_ends_nobody(store, tmp_path):
    """Two unreadable rows of one person: the server keeps the list's names without a unique index
    (they arrive by COPY), so the same ID twice must neither fail nor end anybody."""
    month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    path = roster_file(tmp_path, "m2.csv", [*PEOPLE, A])
    text = path.read_text(encoding="utf-8").replace(f"{A},测试,城市低保", f"{A},测试,城市低保户X")
    path.write_text(text, encoding="utf-8")
    second = import_paths(store, [path], as_of=dt.date(2026, 9, 30))
    assert [(s.rejected, s.ended) for s in second.sheets] == [(2, 0)]
    assert valid(store, "2026-10-15") == set(PEOPLE)
    third = month(store, tmp_path, "m3.csv", PEOPLE[1:], "2026-10-31")
    assert [s.ended for s in third.sheets] == [1]
    assert valid(store, "2026-11-15") == set(PEOPLE[1:])


def test_a_corrected_rejects_workbook_or_a_supplement_only_adds(store, tmp_path):
    month(store, tmp_path, "m1.csv", PEOPLE, "2026-08-31")
    month(store, tmp_path, "m2.csv", PEOPLE[1:], "2026-09-30")
    back = month(store, tmp_path, "extra.csv", [A], "2026-10-05", partial=True)
    assert [(s.ended, s.unchanged) for s in back.sheets] == [(0, 1)]
    assert A in valid(store, "2026-10-06") and valid(store, "2026-10-06") == set(PEOPLE)
    rejects = tmp_path / "rejects.csv"  # what a corrected rejects workbook looks like: only a few rows
    rejects.write_text(f"身份证号,姓名,救助类别,认定日期,拒收原因,原工作表,原行号\n{PEOPLE[1]},测试,城市低保,2024-01-01,,m2,3\n",
                       encoding="utf-8")
    fixed = import_paths(store, [rejects], as_of=dt.date(2026, 10, 6))
    assert fixed.failures == [] and [s.ended for s in fixed.sheets] == [0]
    assert valid(store, "2026-10-07") == set(PEOPLE)


def test_an_older_list_cannot_end_what_a_newer_one_holds(store, tmp_path):
    month(store, tmp_path, "m2.csv", PEOPLE, "2026-09-30")
    older = month(store, tmp_path, "m1.csv", PEOPLE[:5], "2026-08-31")
    assert older.sheets == [] and older.failures[0].reason.startswith(
        "这份「救助对象名册」整表的日期 2026-08-31 早于已导入的整表（2026-09-30）")
    assert valid(store, "2026-10-15") == set(PEOPLE)


def test_people_added_by_a_later_list_are_not_on_earlier_dates(store, tmp_path):
    month(store, tmp_path, "m1.csv", PEOPLE[:5], "2026-08-31")
    month(store, tmp_path, "m2.csv", PEOPLE, "2026-09-30")
    assert PEOPLE[5] not in valid(store, "2026-09-15") and PEOPLE[5] in valid(store, "2026-09-30")
    assert PEOPLE[0] in valid(store, "2026-01-01")  # the first list's people: since before it
