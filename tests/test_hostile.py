"""Hostile and unlucky inputs, each refused with a Chinese reason within a time and memory bound,
while the other files of the same command still import. The files are built here, small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relief_cli.config import config_from_mapping, default_rules_path
from relief_cli.importer import import_paths
from relief_cli.store import Store
from conftest import DATA, make_id

sys.path.insert(0, str(DATA))
from make_fixtures import diluted_bomb, duplicate_rows, lying_bomb, many_sheets, repeated_ods  # noqa: E402

GOOD_ID = make_id("340705", "19800101", 7)
def good_file(folder: Path) -> Path:
    path = folder / "好文件.csv"
    path.write_text(f"身份证号,死亡日期\n{GOOD_ID},2026-11-01\n", encoding="utf-8")
    return path


def limited_config(**limits):
    import yaml

    raw = yaml.safe_load(default_rules_path().read_text(encoding="utf-8"))
    raw["limits"].update(limits)
    return config_from_mapping(raw)


@pytest.mark.parametrize("make,limits,reason", [
    (many_sheets, {}, "工作簿有 100000 张工作表，超过上限 255"),
    (lying_bomb, {"part_mb": 5}, "工作簿解压后过大（单个部件超过 5 MB"),
    (diluted_bomb, {"part_mb": 5}, "工作簿解压后过大（单个部件超过 5 MB"),
    (repeated_ods, {}, "某一行有 16,384 个单元格，超过上限 1000"),
], ids=["100k-sheets", "lying-zip", "diluted-zip", "repeated-ods"])
def test_each_hostile_file_is_refused_quickly_and_alone(db, tmp_path, make, limits, reason):
    hostile = make(tmp_path / ("hostile.ods" if make is repeated_ods else "hostile.xlsx"))
    with Store(db, limited_config(**limits)) as store:
        started = time.monotonic()
        report = import_paths(store, [hostile, good_file(tmp_path)])
        assert time.monotonic() - started < 30
        assert [f.file for f in report.failures] == [str(hostile)]
        assert reason in report.failures[0].reason, report.failures[0].reason
        assert store.count("deaths") == 1


def test_a_million_duplicate_rows_are_refused_without_holding_them(db, tmp_path):
    hostile = duplicate_rows(tmp_path / "重复.csv", 30_000)
    with Store(db, limited_config(rejected_rows_per_file=1_000)) as store:
        report = import_paths(store, [hostile, good_file(tmp_path)])
        assert [f.reason for f in report.failures] == [
            "拒收的行超过 1,000 行（rules.yaml 的 limits.rejected_rows_per_file），整份文件多半有问题（如表头错位、"
            "大量重复行），该文件未导入"]
        assert store.count("deaths") == 1 and store.conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0


def test_rows_beyond_the_limit_are_refused(db, tmp_path):
    long = duplicate_rows(tmp_path / "长.csv", 50)
    with Store(db, limited_config(rows_per_sheet=20)) as store:
        report = import_paths(store, [long])
        assert [f.reason for f in report.failures] == ["工作表「长」超过 20 行（rules.yaml 的 limits.rows_per_sheet），该文件未导入"]


@pytest.mark.skipif(os.environ.get("RELIEF_SIMULATE_WINDOWS") == "1" or not hasattr(os, "wait4"),
                    reason="peak memory of the process tree is read with getrusage")
def test_the_whole_import_stays_small_on_hostile_files(db, tmp_path):
    """The bound of the issue: the whole process tree under 2 GB, each hostile file refused in < 30 s."""
    files = [many_sheets(tmp_path / "a.xlsx"), lying_bomb(tmp_path / "b.xlsx"), repeated_ods(tmp_path / "c.ods"),
             duplicate_rows(tmp_path / "d.csv", 300_000), good_file(tmp_path)]
    started = time.monotonic()
    done = subprocess.Popen([sys.executable, "-m", "relief_cli", "import", *map(str, files), "--db", db,
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    _, status, usage = os.wait4(done.pid, 0)
    seconds = time.monotonic() - started
    out = done.stdout.read().decode("utf-8")
    assert os.waitstatus_to_exitcode(status) == 1
    assert seconds < 60 and usage.ru_maxrss < 2 * 1024 * 1024  # KB
    assert [s["source"] for s in json.loads(out) if s["imported"]] == ["deaths"]


def test_value_only_ods_cells_count_too(db, tmp_path):
    content = ('<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:spreadsheet>'
               '<table:table table:name="S"><table:table-row table:number-rows-repeated="3000">'
               '<table:table-cell office:value-type="float" office:value="7" table:number-columns-repeated="3000"/>'
               '</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>')
    path = tmp_path / "v.ods"
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
    with Store(db, limited_config()) as store:
        report = import_paths(store, [path])
    assert "某一行有 3,000 个单元格，超过上限 1000" in report.failures[0].reason


def test_html_spans_are_bounded(db, tmp_path):
    page = ("<html><table>" + "".join('<tr><td rowspan="1000" colspan="1000">x</td></tr>' for _ in range(3))
            + "<tr><td>身份证号</td><td>死亡日期</td></tr></table></html>")
    path = tmp_path / "span.xls"
    path.write_text(page, encoding="utf-8")
    with Store(db, limited_config()) as store:
        started = time.monotonic()
        import_paths(store, [path])
        assert time.monotonic() - started < 10
