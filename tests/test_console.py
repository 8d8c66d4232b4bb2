"""What an officer sees in a console: Chinese help and usage errors, Chinese choice words,
tables that survive 80/100/120 columns and a GBK code page, and `| head` ending quietly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.main import get_command
from typer.testing import CliRunner

from relief_cli import __version__
from relief_cli.cli import app
from conftest import pg_admin, pg_name

runner = CliRunner()
# Words of click's and typer's own texts, and the type names typer prints for options.
ENGLISH = re.compile(
    r"\b(Usage|Options?|Arguments?|Commands?|required|default|Show this message|Try|Error|Missing|Invalid|"
    r"No such|not one of|range|argument|option|value|Aborted)\b|<[a-z\[\]|, ]+>|\[x>=|\bint\b|\bbool\b|\bstr\b|list\[Path\]")


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def all_commands() -> list[list[str]]:
    root = get_command(app)
    paths = [[]]
    for name, cmd in root.commands.items():
        paths.append([name])
        for sub in getattr(cmd, "commands", {}):
            paths.append([name, sub])
    return paths


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "relief")
def test_every_help_page_is_chinese_and_fits_80_columns(path):
    for flag in ("-h", "--help"):
        result = run(*path, flag, env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert text.startswith(f"用法：relief {' '.join(path)}".replace("  ", " ").rstrip() + " ")
        assert not ENGLISH.search(text), (flag, ENGLISH.search(text).group())
        assert max(cell_len(line) for line in text.splitlines()) <= 80
        assert re.search(r"^  -h, --help +显示本帮助并退出。$", text, re.M)


def test_group_help_lists_every_command_whole():
    text = re.sub(r"\s+", "", run("--help", env={"COLUMNS": "80"}).stdout)
    root = get_command(app)
    for cmd in root.commands.values():
        assert re.sub(r"\s+", "", cmd.help.strip().splitlines()[0]) in text


def test_option_help_shows_chinese_placeholders_and_defaults():
    text = run("overdue", "-h", env={"COLUMNS": "100"}).stdout
    assert "--days 天数" in text and "--db 数据库" in text and "（默认：relief.db）" in text
    assert "--community 社区" in text and "--show-pii" in text
    assert "（必填）" in run("outcome", "-h").stdout


USAGE_ERRORS = [
    (["nosuch"], "没有命令「nosuch」，可用的命令：import、scan"),
    (["alerts", "--foo"], "没有选项 --foo"),
    (["checklist"], "请用 --community 指定社区（村），或用 --all 批量生成"),
    (["checklist", "--all"], "--all 需要用 --out 指定输出文件夹"),
    (["import"], "缺少文件或文件夹"),
    (["outcome", "1", "--handler", "甲"], "缺少必填的选项 --result"),
    (["alerts", "--format", "xml"], "--format 不能是「xml」，可选：table（表格）、json、csv"),
    (["alerts", "--status", "done"], "--status 不能是「done」，可选：open（待走访）、closed（已办结）"),
    (["report", "--by", "year"], "--by 不能是「year」，可选：rule（规则）、community（社区）、month（月份）"),
    (["overdue", "--days", "0"], "--days 不能小于 1（给的是 0）"),
    (["overdue", "--days", "五"], "--days 应为整数，而不是「五」"),
    (["history", "abc"], "预警编号 应为整数，而不是「abc」"),
    (["sample", "--out", "x", "--households", "2"], "--households 不能小于 4（给的是 2）"),
    (["alerts", "--db"], "选项 --db 后面缺少值"),
    (["scan", "--dry-run=yes"], "选项 --dry-run 不需要值"),
    (["scan", "extra"], "多余的参数：extra"),
    (["scan", "--as-of", "明天"], "--as-of 日期无法识别：明天（应为 YYYY-MM-DD）"),
    (["scan", "--as-of", "2099-01-01"], "--as-of 2099-01-01 晚于今天"),
    (["report", "--from", "2026-05-01", "--to", "2026-04-01"], "--from 不能晚于 --to"),
    (["demo", "--db", "relief.db"], "演示不能使用 relief.db"),
    (["alerts", "金口岭"], "多余的参数：金口岭"),
    (["alerts", "--社区", "金口岭"], "没有选项 --社区"),
    (["alerts", "--status", "open", "--status", "closed"], "选项 --status 只能给一次"),
    (["alerts", "--community=金口岭", "--community", "幸福"], "选项 --community 只能给一次"),
    (["outcome", "1", "--result", "无法联系", "--handler", "甲", "--date", "2099-01-01"], "--date 走访日期 2099-01-01 晚于今天"),
]


ON_A_DATABASE = ("scan", "report")  # commands given --db here: a usage error must leave the database alone


def assert_usage_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误：") and expected in lines[0], result.stderr
    assert not ENGLISH.search(lines[0].replace("--", " ")), lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("args,expected", [e for e in USAGE_ERRORS if e[0][0] not in ON_A_DATABASE],
                         ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_usage_errors_are_one_chinese_line_with_exit_2(args, expected):
    assert_usage_error(run(*args), expected)


@pytest.mark.parametrize("args,expected", [e for e in USAGE_ERRORS if e[0][0] in ON_A_DATABASE],
                         ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_usage_errors_touch_no_database(args, expected, dbs):
    db = dbs.new("a.db")
    assert_usage_error(run(*args, "--db", db), expected)
    if dbs.pg:  # the server's database exists (an administrator made it): relief set up nothing in it
        assert pg_admin("SELECT to_regclass('relief_schema') IS NULL", database=pg_name(db)) == [(True,)]
    else:
        assert not Path(db).exists()


def test_no_arguments_prints_the_help():
    result = run()
    assert result.exit_code == 0 and result.stdout.startswith("用法：relief 命令 [选项]")


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"relief {__version__}"


def test_choices_accept_the_chinese_words_the_tables_show(sample_city):
    def same(a, b):
        first, second = run(*a, "--db", sample_city), run(*b, "--db", sample_city)
        assert first.exit_code == second.exit_code == 0, first.output + second.output
        assert first.stdout == second.stdout

    same(["alerts", "--status", "待走访", "--format", "json"], ["alerts", "--status", "open", "--format", "json"])
    same(["alerts", "--status", "已办结", "--format", "json"], ["alerts", "--status", "closed", "--format", "json"])
    same(["report", "--by", "社区", "--to", "2026-11-20", "--format", "json"],
         ["report", "--by", "community", "--to", "2026-11-20", "--format", "json"])
    same(["report", "--by", "月份", "--to", "2026-11-20", "--format", "表格"],
         ["report", "--by", "month", "--to", "2026-11-20", "--format", "table"])


def test_source_accepts_its_chinese_label(dbs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a server database's rejects go to <dbname>-rejects in the current folder
    csv = tmp_path / "d.csv"
    csv.write_text("身份证号,死亡日期\n340705198001010811,2026-11-01\n", encoding="utf-8")
    by_label = json.loads(run("import", csv, "--db", dbs.new("a.db"), "--source", "死亡人员", "--format", "json").stdout)
    by_key = json.loads(run("import", csv, "--db", dbs.new("b.db"), "--source", "deaths", "--format", "json").stdout)
    assert by_label[0]["source"] == by_key[0]["source"] == "deaths"


def relief(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    """relief as an officer starts it: its own process (and, in the Windows simulation, a Windows-like one)."""
    return subprocess.run([sys.executable, "-m", "relief_cli", *map(str, args)], capture_output=True,
                          env={**os.environ, **(env or {})}, **kwargs)


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_tables_keep_ids_dates_and_numbers_whole_at_console_widths(sample_city, columns):
    env = {"COLUMNS": str(columns), "PYTHONIOENCODING": "utf-8"}
    alerts = json.loads(relief("alerts", "--db", sample_city, "--format", "json", env=env).stdout)
    checklist = json.loads(relief("checklist", "--db", sample_city, "--community", "金口岭", "--as-of", "2026-11-20",
                                  "--format", "json", env=env).stdout)
    report = json.loads(relief("report", "--db", sample_city, "--to", "2026-11-20", "--format", "json", env=env).stdout)
    shown = {
        "alerts": relief("alerts", "--db", sample_city, env=env),
        "checklist": relief("checklist", "--db", sample_city, "--community", "金口岭", "--as-of", "2026-11-20", env=env),
        "report": relief("report", "--db", sample_city, "--to", "2026-11-20", env=env),
        "overdue": relief("overdue", "--db", sample_city, "--as-of", "2026-11-20", env=env),
        "scan": relief("scan", "--db", sample_city, "--as-of", "2026-11-20", "--dry-run", env=env),
    }
    for name, done in shown.items():
        assert done.returncode == 0, (name, done.stderr.decode())
        lines = done.stdout.decode("utf-8").splitlines()
        assert max(cell_len(line) for line in lines) <= columns, name
    lines = shown["alerts"].stdout.decode("utf-8").splitlines()
    for a in alerts:
        record = next(line for line in lines if re.match(rf"\s*{a['id']}\s", line))
        assert a["id_no"] in record and a["due_on"] in record
    text = shown["checklist"].stdout.decode("utf-8")
    for g in checklist["grids"]:
        for h in g["households"]:
            assert re.search(rf"^{h['hukou_no']}\s.*{h['due_on']}", text, re.M)
    text = shown["report"].stdout.decode("utf-8")
    assert re.search(rf"\s{report['total']['raised']}\s", text)


def test_long_evidence_is_shortened_in_the_table_not_in_json(sample_city):
    env = {"COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}
    table = relief("alerts", "--db", sample_city, env=env).stdout.decode("utf-8")
    alerts = json.loads(relief("alerts", "--db", sample_city, "--format", "json", env=env).stdout)
    longest = max(alerts, key=lambda a: cell_len(a["evidence"]))
    assert cell_len(longest["evidence"]) > 100
    assert longest["evidence"] not in table and longest["evidence"][:20] in table and "…" in table


def test_piping_into_head_ends_quietly(sample_city):
    command = (f'"{sys.executable}" -m relief_cli alerts --db "{sample_city}" --format json --with-refs | head -c 100;'
               ' echo " ${PIPESTATUS[0]}" >&2')
    done = subprocess.run(command, shell=True, capture_output=True, executable="/bin/bash")
    assert len(done.stdout) == 100
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    assert lines[-1] == " 1" and all(line.startswith("规则：") for line in lines[:-1]), lines  # no message; exit 1


@pytest.mark.parametrize("args", [["--help"], ["alerts"], ["checklist", "--community", "金口岭", "--as-of", "2026-11-20"],
                                  ["report", "--to", "2026-11-20"], ["overdue", "--as-of", "2026-11-27"]])
def test_a_gbk_console_never_crashes(sample_city, args):
    """chcp 936 with output redirected: Python writes in GBK; a character GBK lacks becomes '?'."""
    done = relief(*args, *(["--db", sample_city] if args != ["--help"] else []),
                  env={"PYTHONIOENCODING": "gbk", "PYTHONUTF8": "0", "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    text = done.stdout.decode("gbk")
    assert "UnicodeEncodeError" not in done.stderr.decode("gbk", "replace")
    assert "用法" in text or "预警" in text or "走访" in text


def test_demo_in_a_gbk_console(tmp_path):
    """SQLite only: demo rebuilds its own database file on every run (--db names a file, never a server)."""
    done = relief("demo", "--db", tmp_path / "demo.db", "--data", Path(__file__).parent.parent / "sample_data",
                  env={"PYTHONIOENCODING": "gbk", "PYTHONUTF8": "0"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    assert "演示完成" in done.stdout.decode("gbk")


def test_a_long_listing_prints_aligned_as_written_and_never_rewrapped():
    """Above PLAIN_ABOVE_ROWS rows a table is plain lines: CJK characters count two cells, numbers flush
    right, a cell that looks like rich markup printed as it is, nothing folded at a narrow console."""
    from io import StringIO

    from rich.console import Console

    from relief_cli import render

    rows = [[f"网格员{i}", "[red]金口岭[/red]" if i == 7 else "金口岭社区", i] for i in range(render.PLAIN_ABOVE_ROWS + 1)]
    shown = render.with_caption(render.table("超期汇总", ["网格员", "社区", "条数"], rows, justify_right={"条数"}),
                                "说明一\n说明二")
    buffer = StringIO()
    Console(file=buffer, width=20, soft_wrap=True, highlight=False).print(shown)
    lines = buffer.getvalue().splitlines()
    assert lines[:3] == ["超期汇总", "网格员     社区" + " " * 15 + "条数", "---------  -----------------  ----"]
    assert lines[-2:] == ["说明一", "说明二"]
    body = lines[3:-2]
    assert len(body) == len(rows) and {cell_len(line) for line in body} == {34}
    assert body[7] == "网格员7    [red]金口岭[/red]     7"
    assert body[300] == "网格员300  金口岭社区" + " " * 10 + "300"
