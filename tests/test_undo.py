"""Import history and undo: an undone import leaves the database as it was before it (every table's
rows, alerts and outcomes), withdraws the open alerts raised only from its rows, and is refused while
a later import builds on it."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from relief_cli.checklist import build_checklist
from relief_cli.cli import app
from relief_cli.config import load_config
from relief_cli.followup import Outcome, history, record_outcome, reopen
from relief_cli.history import UndoRefused, list_imports, undo_import
from relief_cli.importer import import_paths
from relief_cli.scan import scan
from relief_cli.store import Store
from relief_cli.visit_sheet import write_visit_workbook
from conftest import ROOT, make_id, parse_in_pairs

runner = CliRunner()
P = [make_id("340705", "19800101", n) for n in range(1, 7)]
HEADERS = {
    "population": ["身份证号", "姓名", "户号", "与户主关系", "社区", "网格", "住址"],
    "grids": ["区县", "街道", "社区", "网格", "网格员"],
    "medical": ["结算单号", "身份证号", "结算日期", "就诊类型", "个人自付"],
    "illness": ["身份证号", "诊断", "确诊日期"],
}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(folder: Path, name: str, source: str, rows: list[list]) -> Path:
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS[source])
        writer.writerows(rows)
    return path


def people(address: str = "一号楼", leave: tuple[str, ...] = ()) -> list[list]:
    return [[p, f"居民{i}", f"H{i // 2}", "户主" if i % 2 == 0 else "配偶", "金口岭社区", "第一网格", address if i == 0 else "二号楼"]
            for i, p in enumerate(P) if p not in leave]


def bring(store: Store, path: Path, day: str = "2026-10-31", **kwargs) -> int:
    report = import_paths(store, [path], as_of=dt.date.fromisoformat(day), **kwargs)
    assert not report.failures, report.failures
    return report.sheets[0].import_id


def tables(store: Store) -> list[str]:
    if store.pg:
        return [r[0] for r in store.conn.execute_native(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
    return [r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every table's rows in order (the audit trail aside, and the history line an undone import keeps)."""
    out = {}
    for table in tables(store):
        if table == "audit":
            continue
        where = " WHERE undone_at IS NULL" if table == "imports" else ""
        order = ", ".join(str(n) for n in range(1, len(store.columns(table)) + 1))
        out[table] = store.conn.execute(f'SELECT * FROM "{table}"{where} ORDER BY {order}').fetchall()
    return out


@pytest.fixture()
def town(store, tmp_path):
    """Six people in three households with a grid and its worker, and last month's settlements."""
    bring(store, write(tmp_path, "grids.csv", "grids", [["铜官区", "幸福街道", "金口岭社区", "第一网格", "网格员甲"]]), "2026-09-30")
    bring(store, write(tmp_path, "p1.csv", "population", people()), "2026-09-30")
    bring(store, write(tmp_path, "m1.csv", "medical", [[f"S{i}", p, "2026-09-15", "门诊", "100"] for i, p in enumerate(P[:4])]))
    return store


def test_undo_of_a_second_month_restores_every_table(town, tmp_path):
    scan(town, dt.date(2026, 10, 10))
    before = dump(town)
    second = bring(town, write(tmp_path, "m2.csv", "medical", [["S0", P[0], "2026-09-15", "门诊", "150"],  # corrected
                                                               ["S1", P[1], "2026-09-15", "门诊", "100"],  # the same
                                                               ["S9", P[4], "2026-10-20", "住院", "300"]]))  # new
    assert dump(town) != before
    result = undo_import(town, second)
    assert (result.removed, result.restored, result.withdrawn) == ({"医保结算": 1}, {"医保结算": 1}, [])
    assert dump(town) == before
    assert town.conn.execute("SELECT oop FROM src_medical WHERE settlement_no = 'S0'").fetchone() == (10000,)


def test_ids_after_an_undo_are_given_again_as_sqlite_gives_them(town, tmp_path):
    """New rows take the highest id + 1, as SQLite's rowids do: after an undo the same file gets the same
    ids on both stores, and a table emptied by undo starts again from 1 (alerts name rows by id)."""
    def ids():
        return town.conn.execute("SELECT settlement_no, _id FROM src_medical ORDER BY _id").fetchall()

    rows = [["S9", P[5], "2026-10-20", "住院", "300"], ["S8", P[4], "2026-10-21", "住院", "200"]]
    second = bring(town, write(tmp_path, "m2.csv", "medical", rows))
    assert ids()[4:] == [("S9", 5), ("S8", 6)]  # the file's order, whatever the order of the keys
    undo_import(town, second)
    bring(town, write(tmp_path, "m3.csv", "medical", rows[::-1]))
    assert ids()[4:] == [("S8", 5), ("S9", 6)]
    for number in sorted({r[0] for r in town.conn.execute("SELECT _import FROM src_medical")}, reverse=True):
        undo_import(town, number)
    bring(town, write(tmp_path, "m4.csv", "medical", rows))
    assert ids() == [("S9", 1), ("S8", 2)]


def test_a_file_whose_chunks_hold_new_and_stored_keys_in_turn_gets_sqlites_ids_counts_and_undo(town, tmp_path, monkeypatch):
    """A server's owner COPYs a chunk straight into the table while the keys are new, and merges through
    staging from a chunk with a stored key until one holds only new keys again (Store._pg_merge_rows): the
    rows, ids and counts are SQLite's however the chunks went, and an undo restores the month."""
    tried = []
    append = Store._pg_append
    monkeypatch.setattr(Store, "_pg_append", lambda self, *a: tried.append(append(self, *a)) or tried[-1])
    before = dump(town)  # S0..S3 stored, ids 1-4
    rows = [["S0", P[0], "2026-09-15", "门诊", "150"], ["S1", P[1], "2026-09-15", "门诊", "100"],  # changed; same
            ["T1", P[4], "2026-10-20", "住院", "300"], ["T2", P[5], "2026-10-21", "住院", "310"],  # new, merged
            ["T3", P[4], "2026-10-22", "门诊", "20"], ["T4", P[5], "2026-10-23", "门诊", "30"],    # new, COPY
            ["T5", P[4], "2026-10-24", "门诊", "40"], ["S2", P[2], "2026-09-15", "门诊", "100"],   # new, stored
            ["T6", P[5], "2026-10-25", "门诊", "50"], ["T7", P[4], "2026-10-26", "门诊", "60"],    # new, merged
            ["S3", P[3], "2026-09-15", "门诊", "100"]]                                              # stored
    report = import_paths(town, [write(tmp_path, "m2.csv", "medical", rows)], as_of=dt.date(2026, 10, 31),
                          parse=parse_in_pairs)
    sheet = report.sheets[0]
    assert (sheet.imported, sheet.updated, sheet.unchanged) == (7, 1, 3)
    assert tried == ([False, True, False, False] if town.pg else [])
    assert town.conn.execute("SELECT _id, settlement_no, oop, _import, _row FROM src_medical ORDER BY _id").fetchall() == [
        (1, "S0", 15000, sheet.import_id, 2), (2, "S1", 10000, 3, 3), (3, "S2", 10000, 3, 4), (4, "S3", 10000, 3, 5),
        (5, "T1", 30000, sheet.import_id, 4), (6, "T2", 31000, sheet.import_id, 5), (7, "T3", 2000, sheet.import_id, 6),
        (8, "T4", 3000, sheet.import_id, 7), (9, "T5", 4000, sheet.import_id, 8), (10, "T6", 5000, sheet.import_id, 10),
        (11, "T7", 6000, sheet.import_id, 11)]
    undo_import(town, sheet.import_id)
    assert dump(town) == before


def test_undo_of_full_lists_reverses_endings_and_returns(town, tmp_path):
    before_second = dump(town)
    second = bring(town, write(tmp_path, "p2.csv", "population", people("三号楼", leave=(P[5],))), "2026-10-31")
    assert town.conn.execute("SELECT _valid_to, _ended_by FROM src_population WHERE id_no = ?", (P[5],)).fetchone() == (
        "2026-10-31", second)
    before_third = dump(town)
    third = bring(town, write(tmp_path, "p3.csv", "population", people("三号楼")), "2026-11-30")
    assert town.conn.execute("SELECT count(*) FROM list_spans").fetchone() == (1,)
    assert undo_import(town, third).restored == {"户籍人口": 1}
    assert dump(town) == before_third
    result = undo_import(town, second)
    assert (result.restored, result.ended_reversed) == ({"户籍人口": 2}, 1)  # one address, one ending
    assert dump(town) == before_second


def test_undo_of_the_whole_sample_city_leaves_an_empty_database(store):
    empty = dump(store)
    report = import_paths(store, [ROOT / "sample_data"], as_of=dt.date(2026, 11, 20))
    ids = sorted({s.import_id for s in report.sheets if s.import_id})
    assert len(ids) == 10
    for number in reversed(ids):
        undo_import(store, number)
    assert dump(store) == empty
    assert [r.undone_at is not None for r in list_imports(store)] == [True] * 10


def test_alerts_raised_only_from_the_rows_are_withdrawn_and_kept_in_history(town, tmp_path):
    bring(town, write(tmp_path, "i.csv", "illness", [[P[2], "白血病", "2026-10-25"]]))
    scan(town, dt.date(2026, 10, 31))
    illness = town.conn.execute("SELECT id FROM alerts").fetchone()[0]
    number = bring(town, write(tmp_path, "m2.csv", "medical", [
        ["S10", P[0], "2026-10-20", "住院", "20000"],  # with S0 of last month: the alert rests on older rows too
        ["S11", P[4], "2026-10-20", "住院", "20000"],  # only this import's row
        ["S12", P[5], "2026-10-20", "住院", "20000"],  # only this import's row, but visited already
    ]))
    scan(town, dt.date(2026, 11, 2))
    alerts = {r[1]: r[0] for r in town.conn.execute("SELECT id, subject_key FROM alerts WHERE rule_id = 'medical_annual'")}
    assert sorted(alerts) == sorted([P[0], P[4], P[5]])
    record_outcome(town, [alerts[P[5]]], Outcome("无法联系", dt.date(2026, 11, 3), "网格员甲"))
    surges = {r[1]: r[0] for r in town.conn.execute("SELECT id, subject_key FROM alerts WHERE rule_id = 'medical_surge'")}
    assert sorted(surges) == sorted([P[0], P[4], P[5]])  # P0's rests on S0 too (within its 90 days)
    families = dict(town.conn.execute("SELECT subject_key, id FROM alerts WHERE rule_id = 'household_medical_surge'").fetchall())
    assert sorted(families) == ["H0", "H2"]  # H2 (P4 and P5) rests on S11 and S12 alone
    result = undo_import(town, number)
    assert result.withdrawn == sorted([alerts[P[4]], surges[P[4]], surges[P[5]], families["H2"]])
    status = dict(town.conn.execute("SELECT id, status FROM alerts").fetchall())
    assert (status[alerts[P[0]]], status[surges[P[0]]], status[alerts[P[4]]], status[alerts[P[5]]], status[illness]) == (
        "open", "open", "closed", "closed", "open")
    outcome = json.loads(town.conn.execute("SELECT outcome FROM alerts WHERE id = ?", (alerts[P[4]],)).fetchone()[0])
    assert (outcome["outcome"], outcome["detail"], outcome["visit_date"]) == ("撤回", f"撤销导入 {number}", None)
    assert [(h["action"], h["outcome"], h["origin"], h["note"]) for h in history(town, alerts[P[4]])] == [
        ("close", "撤回", f"撤销导入 {number}", f"依据的记录来自导入 {number}（m2.csv），该导入已撤销")]
    assert [h["outcome"] for h in history(town, alerts[P[5]])] == ["无法联系"]
    assert town.conn.execute("SELECT count(*) FROM src_medical WHERE settlement_no LIKE 'S1_'").fetchone() == (0,)
    from relief_cli.report import funnel

    total = funnel(town, dt.date(2026, 10, 1), dt.date(2026, 11, 30)).total  # withdrawn alerts were never raised
    assert (total.raised, total.visited) == (len(status) - len(result.withdrawn), 1)


def test_refused_while_a_later_import_builds_on_it(town, tmp_path):
    first = bring(town, write(tmp_path, "m2.csv", "medical", [["S7", P[0], "2026-10-02", "门诊", "100"],
                                                              ["S8", P[1], "2026-10-02", "门诊", "100"]]))
    unrelated = bring(town, write(tmp_path, "i.csv", "illness", [[P[2], "白血病", "2026-10-25"]]))
    later = bring(town, write(tmp_path, "m3.csv", "medical", [["S7", P[0], "2026-10-02", "门诊", "120"],
                                                              ["S8", P[1], "2026-10-02", "门诊", "100"]]))
    with pytest.raises(UndoRefused) as e:
        undo_import(town, first)
    assert str(e.value) == (
        f"不能撤销导入 {first}（m2.csv）：之后的导入依赖它——导入 {later}（m3.csv）改动了这次导入写入的记录，"
        f"含有与库中相同的「医保结算」记录（可能正是这次导入写入的）。请先从最新的开始撤销这些导入：relief undo {later}")
    undo_import(town, later)
    undo_import(town, first)  # the illness import in between does not build on it
    assert town.conn.execute("SELECT count(*) FROM src_illness WHERE _import = ?", (unrelated,)).fetchone() == (1,)


def test_refused_after_a_later_full_list_of_the_same_source(town, tmp_path):
    second = bring(town, write(tmp_path, "p2.csv", "population", people("三号楼")), "2026-10-31")
    third = bring(town, write(tmp_path, "p3.csv", "population", people("四号楼")), "2026-11-30")
    with pytest.raises(UndoRefused, match=f"导入 {third}（p3.csv）改动了这次导入写入的记录，是「户籍人口」之后的整表"):
        undo_import(town, second)
    with pytest.raises(UndoRefused, match=f"导入 {third}（p3.csv）是「户籍人口」之后的整表"):
        undo_import(town, 2)  # the first list: the third one ended nobody, yet it was compared with it


def test_undo_of_a_returned_visit_sheet_reopens_its_alerts(town, tmp_path):
    bring(town, write(tmp_path, "i.csv", "illness", [[P[0], "白血病", "2026-10-25"], [P[2], "白血病", "2026-10-25"]]))
    scan(town, dt.date(2026, 10, 28))
    sheet = tmp_path / "清单.xlsx"
    write_visit_workbook(sheet, build_checklist(town, "金口岭", dt.date(2026, 10, 28)), town.config.settings.outcomes)
    wb = openpyxl.load_workbook(sheet)
    ws = wb["第一网格"]
    col = {c.value: i + 1 for i, c in enumerate(ws[3])}
    for cell, value in (("走访日期", "2026-10-29"), ("走访结果", "不符合条件"), ("走访人", "网格员甲")):
        ws.cell(row=4, column=col[cell]).value = value
    wb.save(tmp_path / "回收.xlsx")
    before = dump(town)
    number = bring(town, tmp_path / "回收.xlsx")
    assert town.conn.execute("SELECT count(*) FROM alerts WHERE status = 'closed'").fetchone() == (1,)
    result = undo_import(town, number)
    assert (result.alerts_restored, result.outcomes_removed, result.removed) == (1, 1, {"走访反馈": 1})
    assert dump(town) == before
    again = bring(town, tmp_path / "回收.xlsx")
    closed = town.conn.execute("SELECT id FROM alerts WHERE status = 'closed'").fetchone()[0]
    reopen(town, closed, "网格员甲", "核实有误")
    with pytest.raises(UndoRefused, match=f"它办结的预警 {closed} 之后又登记过结果或重新打开过"):
        undo_import(town, again)


def test_history_lists_imports_and_marks_the_undone(town, tmp_path):
    records = list_imports(town)
    assert [(r.id, r.file, r.rows, r.imported, r.undoable, r.undone_at) for r in records] == [
        (1, "grids.csv", 1, 1, True, None), (2, "p1.csv", 6, 6, True, None), (3, "m1.csv", 4, 4, True, None)]
    assert records[2].user and [(s.sheet, s.source, s.label, s.rows) for s in records[2].sheets] == [("m1", "medical", "医保结算", 4)]
    undo_import(town, 3)
    with pytest.raises(UndoRefused, match=r"^导入 3（m1.csv）已于 \d{4}-\d\d-\d\dT[\d:]+ 撤销$"):
        undo_import(town, 3)
    with pytest.raises(UndoRefused, match="^没有编号为 99 的导入$"):
        undo_import(town, 99)
    town.conn.execute("UPDATE imports SET logged = 0 WHERE id = 2")
    with pytest.raises(UndoRefused, match="^导入 2（p1.csv）是旧版 relief 导入的，当时没有记录它改动前的数据，无法撤销$"):
        undo_import(town, 2)


def test_the_change_log_ends_with_its_import_and_a_refused_file_leaves_none(town, tmp_path):
    def logging() -> bool:
        """SQLite: the temporary triggers of an import; a server: its triggers' switch, relief.import."""
        if town.pg:
            return bool(town.conn.execute_native("SELECT current_setting('relief.import', true)").fetchone()[0])
        return town.conn.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger'").fetchone()[0] > 0

    assert not logging()
    refused = import_paths(town, [write(tmp_path, "p2.csv", "population", people()[:2])], as_of=dt.date(2026, 10, 31))
    assert refused.failures and not logging()
    town.conn.execute("UPDATE src_medical SET oop = 1")  # not an import: nothing to log
    assert town.conn.execute("SELECT count(*) FROM import_changes").fetchone() == (0,)


def test_cli_imports_and_undo(db, tmp_path):
    path = write(tmp_path, "m1.csv", "medical", [["S1", P[0], "2026-09-15", "门诊", "100"]])
    assert run("import", path, "--db", db).exit_code == 0
    listed = run("imports", "--db", db, "--format", "json")
    with Store(db, load_config(None)) as store:
        assert json.loads(listed.stdout) == [r.as_dict() for r in list_imports(store)]
    assert "导入记录 1 次" in run("imports", "--db", db).stdout
    done = run("undo", "1", "--db", db)
    assert done.exit_code == 0 and "已撤销导入 1（m1.csv）：\n  「医保结算」删除这次新增的 1 条" in done.stdout
    again = run("undo", "1", "--db", db)
    assert again.exit_code == 1 and "错误：导入 1（m1.csv）已于" in again.stderr
    assert run("undo", "abc", "--db", db).exit_code == 2
    with Store(db, load_config(None)) as store:
        audit = store.conn.execute("SELECT command, filters, rows FROM audit").fetchall()
    assert [(c, json.loads(f)["import_id"], json.loads(f)["removed"], n) for c, f, n in audit] == [("undo", 1, {"医保结算": 1}, 1)]
