"""The `relief` command: parse options, call one service, render. Heavy modules load lazily."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(
    help="relief：社会救助“政策找人”工具。导入各部门数据、运行预警模型、跟踪网格员走访。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
rules_app = typer.Typer(help="检查规则配置文件 rules.yaml。", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@app.callback()
def _private_files() -> None:
    """Everything relief creates (database, -wal/-shm, exports) is owner-only."""
    os.umask(0o077)


class Fmt(str, Enum):
    table = "table"
    json = "json"


DbOpt = Annotated[Path, typer.Option("--db", help="数据库文件路径。")]
RulesOpt = Annotated[Optional[Path], typer.Option("--rules", help="规则文件路径（默认：当前目录的 rules.yaml，没有则用内置规则）。")]
AsOfOpt = Annotated[Optional[str], typer.Option("--as-of", help="统计截止日期 YYYY-MM-DD（默认：今天）。")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="出错时显示技术细节（调用栈）。")]
ShowPiiOpt = Annotated[bool, typer.Option("--show-pii", help="显示完整身份证号、电话和姓名（会记入审计表）。")]
FmtOpt = Annotated[Fmt, typer.Option("--format", help="输出格式：table 或 json。")]


@contextmanager
def _errors(verbose: bool) -> Iterator[None]:
    """Known problems become one Chinese line and exit 1; others too, unless --verbose."""
    from .config import ConfigError
    from .store import StoreError

    try:
        yield
    except typer.Exit:
        raise
    except ConfigError as e:
        from .render import err

        err.print("规则文件有误：")
        for p in e.problems:
            err.print(f"  {p}", markup=False)
        raise typer.Exit(1) from None
    except (StoreError, UsageProblem) as e:
        from .render import err

        err.print(f"错误：{e}", markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        from .render import err

        err.print("已中断，本次未完成的文件没有写入数据库。")
        raise typer.Exit(130) from None
    except Exception as e:
        if verbose:
            raise
        from .render import err

        # The message of an unexpected error may quote a cell: show only its type.
        err.print(f"内部错误（{type(e).__name__}）。请加 --verbose 重试以查看详情，并报告给维护人员。", markup=False)
        raise typer.Exit(1) from None


class UsageProblem(Exception):
    """A bad option value detected by a command (Chinese message)."""


def _as_of(value: str | None, option: str = "--as-of") -> dt.date:
    if value is None:
        return dt.date.today()
    from .values import ValueProblem, parse_date

    try:
        return parse_date(value)
    except ValueProblem:
        raise UsageProblem(f"{option} 日期无法识别：{value}（应为 YYYY-MM-DD）") from None


def _open_store(db: Path, rules: Path | None) -> Any:
    from .config import load_config
    from .store import Store

    return Store(db, load_config(rules))


@app.command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="要导入的文件或文件夹（.xlsx / .xls / .csv）。", show_default=False)],
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    source: Annotated[Optional[str], typer.Option("--source", help="强制按指定来源导入（如 medical），不自动识别。")] = None,
    fmt: FmtOpt = Fmt.table,
    verbose: VerboseOpt = False,
) -> None:
    """导入各部门导出的表格：自动识别来源，规范化数值，拒收行写入拒收明细工作簿。"""
    from .importer import import_paths
    from .render import err, import_summary, out, print_json

    with _errors(verbose):
        store = _open_store(db, rules)
        if source is not None and source not in store.config.sources:
            raise UsageProblem(f"未知的数据来源 {source}，可选：{', '.join(store.config.sources)}")
        with _progress(enabled=fmt == Fmt.table) as progress:
            report = import_paths(store, paths, source=source, progress=progress)
        if report.sheets and any(s.rejects_file for s in report.sheets):
            store.audit("import:rejects", {"paths": [str(p) for p in paths]}, sum(s.rejected for s in report.sheets), False,
                        ";".join(sorted({s.rejects_file for s in report.sheets if s.rejects_file})))
        if fmt == Fmt.json:
            print_json([s.as_dict() for s in report.sheets])
        else:
            out.print(import_summary(report, {k: v.label for k, v in store.config.sources.items()}))
        for f in report.failures:
            err.print(f"无法导入 {f.file}：{f.reason}", markup=False)
        if report.failures:
            raise typer.Exit(1)


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress line per sheet on stderr (only on a terminal, only in table mode)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .render import err

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True, console=err) as bar:
        tasks: dict[tuple[str, str], Any] = {}

        def update(file: str, sheet: str, rows: int) -> None:
            key = (file, sheet)
            if key not in tasks:
                tasks[key] = bar.add_task("")
            bar.update(tasks[key], description=f"{file} / {sheet}：已读 {rows:,} 行")

        yield update


class ListFmt(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command("scan")
def scan_cmd(
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只计算不写入：按规则列出将产生多少预警、与库中已有的差异。")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """运行预警模型：按规则找出需要走访的人和户，生成预警并分派到网格员。"""
    from .render import out, scan_summary
    from .scan import dry_run as scan_dry_run
    from .scan import scan

    with _errors(verbose):
        store = _open_store(db, rules)
        day = _as_of(as_of)
        result = scan_dry_run(store, day) if dry_run else scan(store, day)
        out.print(scan_summary(result))


@app.command("alerts")
def alerts_cmd(
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    community: Annotated[Optional[str], typer.Option("--community", help="社区（村）名称，可只写一部分，如 金口岭。")] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", help="网格名称（可只写一部分）。")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", help="规则编号或名称。")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="模型：支出骤增 / 收入骤减 / 收入不稳定 / 类别升级。")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="状态：open（待走访）或 closed（已办结）。")] = None,
    fmt: Annotated[ListFmt, typer.Option("--format", help="输出格式：table、json 或 csv。")] = ListFmt.table,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", help="同时导出为 Excel 工作簿。")] = None,
    with_refs: Annotated[bool, typer.Option("--with-refs", help="json 输出中附上每条预警的来源记录（文件、工作表、行号）。")] = False,
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """列出预警（未分派的排在最前）。"""
    from .alerts import AlertFilter, list_alerts
    from .privacy import Masker
    from .render import alerts_table, out, print_csv, print_json, write_alerts_xlsx

    with _errors(verbose):
        if status is not None and status not in ("open", "closed"):
            raise UsageProblem("--status 只能是 open 或 closed")
        store = _open_store(db, rules)
        flt = AlertFilter(community=community, grid=grid, rule=rule, family=family, status=status)
        rows = list_alerts(store, flt, Masker(show_pii), with_refs=with_refs and fmt == ListFmt.json)
        if fmt == ListFmt.json:
            print_json(rows)
        elif fmt == ListFmt.csv:
            print_csv(rows)
        else:
            out.print(alerts_table(rows))
        if xlsx is not None:
            write_alerts_xlsx(xlsx, rows)
            out.print(f"已导出 {len(rows)} 条预警到 {xlsx}")
        if show_pii or xlsx is not None or fmt != ListFmt.table:
            store.audit("alerts", {**flt.as_dict(), "format": fmt.value}, len(rows), show_pii, str(xlsx) if xlsx else None)


@app.command("overdue")
def overdue_cmd(
    days: Annotated[Optional[int], typer.Option("--days", min=1, help="走访时限（工作日，默认取 rules.yaml 的 visit_working_days）。")] = None,
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    community: Annotated[Optional[str], typer.Option("--community", help="只看这个社区（村），可只写一部分。")] = None,
    fmt: FmtOpt = Fmt.table,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", help="导出工作簿，每个乡镇（街道）一张表，便于下发。")] = None,
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """超期未走访的预警：按区县 → 乡镇（街道）→ 社区 → 网格员分组。"""
    from .alerts import AlertFilter
    from .overdue import overdue
    from .privacy import Masker
    from .render import out, overdue_table, print_json, write_overdue_xlsx

    with _errors(verbose):
        store = _open_store(db, rules)
        result = overdue(store, _as_of(as_of), days, AlertFilter(community=community), Masker(show_pii),
                         with_alerts=fmt == Fmt.json or xlsx is not None)
        if fmt == Fmt.json:
            print_json(result.alerts)
        else:
            out.print(overdue_table(result))
        if xlsx is not None:
            write_overdue_xlsx(xlsx, result)
            out.print(f"已导出 {len(result.alerts)} 条超期预警到 {xlsx}")
        if show_pii or xlsx is not None or fmt == Fmt.json:
            store.audit("overdue", {"days": result.days, "as_of": result.as_of, "community": community}, len(result.alerts),
                        show_pii, str(xlsx) if xlsx else None)


@app.command("outcome")
def outcome_cmd(
    result: Annotated[str, typer.Option("--result", help="走访结果：纳入救助 / 转办 / 不符合条件 / 无法联系 / 已在保无需处理。", show_default=False)],
    handler: Annotated[str, typer.Option("--handler", help="走访人（经办人）。", show_default=False)],
    alert_ids: Annotated[Optional[list[int]], typer.Argument(help="预警编号（可多个）。", show_default=False)] = None,
    household: Annotated[Optional[str], typer.Option("--household", help="按户登记：该户所有待走访预警一并办结。")] = None,
    detail: Annotated[Optional[str], typer.Option("--detail", help="纳入救助时填救助类型（低保、特困、临时救助…），转办时填部门。")] = None,
    visit_date: Annotated[Optional[str], typer.Option("--date", help="走访日期 YYYY-MM-DD（默认今天）。")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="备注。")] = None,
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """登记走访结果并办结预警（每次变更都保留历史）。"""
    from .followup import Outcome, OutcomeProblem, household_alerts, record_outcome
    from .render import out

    with _errors(verbose):
        store = _open_store(db, rules)
        ids = list(alert_ids or [])
        if household:
            ids += household_alerts(store, household)
            if not ids:
                raise UsageProblem(f"户号 {household} 没有待走访的预警")
        if not ids:
            raise UsageProblem("请给出预警编号，或用 --household 指定户号")
        try:
            changed = record_outcome(store, ids, Outcome(result, _as_of(visit_date, "--date"), handler, detail, note))
        except OutcomeProblem as e:
            raise UsageProblem(str(e)) from None
        out.print(f"已登记走访结果「{result}」，办结预警 {changed} 条（编号 {'、'.join(map(str, ids))}）。")


@app.command("reopen")
def reopen_cmd(
    alert_id: Annotated[int, typer.Argument(help="预警编号。", show_default=False)],
    handler: Annotated[str, typer.Option("--handler", help="经办人。")] = "",
    note: Annotated[Optional[str], typer.Option("--note", help="重新打开的原因。")] = None,
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """重新打开已办结的预警（历史保留）。"""
    from .followup import OutcomeProblem, reopen
    from .render import out

    with _errors(verbose):
        store = _open_store(db, rules)
        try:
            reopen(store, alert_id, handler, note)
        except OutcomeProblem as e:
            raise UsageProblem(str(e)) from None
        out.print(f"预警 {alert_id} 已重新打开。")


@app.command("history")
def history_cmd(
    alert_id: Annotated[int, typer.Argument(help="预警编号。", show_default=False)],
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    fmt: FmtOpt = Fmt.table,
    verbose: VerboseOpt = False,
) -> None:
    """查看一条预警的办理历史。"""
    from .followup import OutcomeProblem, history
    from .render import out, print_json, table

    with _errors(verbose):
        store = _open_store(db, rules)
        try:
            rows = history(store, alert_id)
        except OutcomeProblem as e:
            raise UsageProblem(str(e)) from None
        if fmt == Fmt.json:
            print_json(rows)
        else:
            labels = {"close": "办结", "reopen": "重新打开"}
            out.print(table(f"预警 {alert_id} 办理历史", ["时间", "操作", "结果", "类型/部门", "走访日期", "走访人", "备注", "来源"],
                            [[r["recorded_at"], labels[r["action"]], r["outcome"], r["detail"], r["visit_date"], r["handler"],
                              r["note"], r["origin"]] for r in rows]))


class ByOpt(str, Enum):
    rule = "rule"
    community = "community"
    month = "month"


@app.command("report")
def report_cmd(
    date_from: Annotated[Optional[str], typer.Option("--from", help="起始日期（按推送日期，默认今年 1 月 1 日）。")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="截止日期（默认今天）。")] = None,
    by: Annotated[ByOpt, typer.Option("--by", help="分组：rule（规则）、community（社区）或 month（月份）。")] = ByOpt.rule,
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    fmt: FmtOpt = Fmt.table,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", help="导出含图表的工作簿，可直接用于月报。")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """预警成效月报：推送 → 走访 → 纳入救助，转化率、精确率和超期率。"""
    from .render import out, print_json, report_table, write_report_xlsx
    from .report import funnel

    with _errors(verbose):
        store = _open_store(db, rules)
        end = _as_of(date_to, "--to")
        start = _as_of(date_from, "--from") if date_from else dt.date(end.year, 1, 1)
        if start > end:
            raise UsageProblem("--from 不能晚于 --to")
        result = funnel(store, start, end, by.value)
        if fmt == Fmt.json:
            print_json(result.as_dict())
        else:
            out.print(report_table(result))
        if xlsx is not None:
            write_report_xlsx(xlsx, result)
            store.audit("report", {"from": result.date_from, "to": result.date_to, "by": by.value}, len(result.rows), False, str(xlsx))
            out.print(f"已导出到 {xlsx}")


@app.command("checklist")
def checklist_cmd(
    community: Annotated[str, typer.Option("--community", help="社区（村）名称，可只写一部分，如 金口岭。")],
    grid: Annotated[Optional[str], typer.Option("--grid", help="只列这个网格（可只写一部分）。")] = None,
    db: DbOpt = Path("relief.db"),
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    fmt: FmtOpt = Fmt.table,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", help="导出可打印、可回收导入的走访清单工作簿。")] = None,
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """三必访 / 五问 走访清单：按网格列出要走访的户、原因、期限和五问。"""
    from .checklist import CommunityNotFound, build_checklist
    from .privacy import Masker
    from .render import checklist_tables, out, print_json

    with _errors(verbose):
        store = _open_store(db, rules)
        try:
            result = build_checklist(store, community, _as_of(as_of), grid=grid, masker=Masker(show_pii))
        except CommunityNotFound as e:
            raise UsageProblem(str(e)) from None
        if fmt == Fmt.json:
            print_json(result.as_dict())
        else:
            for renderable in checklist_tables(result):
                out.print(renderable)
        households = sum(len(g.households) for g in result.grids)
        if xlsx is not None:
            from .visit_sheet import write_visit_workbook  # openpyxl loads only when a workbook is written

            write_visit_workbook(xlsx, result, store.config.settings.outcomes)
            out.print(f"已导出走访清单 {households} 户到 {xlsx}（每个网格一张表，A4 横向打印）")
        if show_pii or xlsx is not None or fmt == Fmt.json:
            store.audit("checklist", {"community": result.community, "grid": grid, "format": fmt.value}, households,
                        show_pii, str(xlsx) if xlsx else None)


@rules_app.command("check")
def rules_check(rules: RulesOpt = None, verbose: VerboseOpt = False) -> None:
    """检查规则文件，一次列出全部问题。"""
    from .config import load_config, resolve_rules_path
    from .render import out

    with _errors(verbose):
        config = load_config(rules)
        out.print(
            f"{resolve_rules_path(rules)}：检查通过（{len(config.sources)} 个数据来源，"
            f"{len(config.rules)} 条预警规则，{sum(r.enabled for r in config.rules)} 条启用）。"
        )


@app.command("sample")
def sample_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="输出文件夹。")],
    households: Annotated[int, typer.Option("--households", min=1, help="生成的户数。")] = 1200,
    seed: Annotated[int, typer.Option("--seed", help="随机种子（相同种子生成相同数据）。")] = 7,
    verbose: VerboseOpt = False,
) -> None:
    """生成一个虚构城市的各部门导出样例（全部为合成数据，不含真实人员）。"""
    from .render import out, table
    from .sample import generate_city

    with _errors(verbose):
        summary = generate_city(out_dir, households=households, seed=seed)
        rows = [[f.path.name, s, n] for f in summary.files for s, n in f.sheets.items()]
        out.print(table(f"已生成 {summary.households:,} 户、{summary.people:,} 人、{summary.records:,} 条记录：{out_dir}",
                        ["文件", "工作表", "行数"], rows, justify_right={"行数"}))


@app.command("demo")
def demo_cmd(
    db: Annotated[Path, typer.Option("--db", help="演示数据库（每次重建，不会碰 relief.db）。")] = Path("relief-demo.db"),
    data: Annotated[Optional[Path], typer.Option("--data", help="样例数据文件夹（默认 ./sample_data，没有则现场生成）。")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """用内置样例数据演示完整流程：导入 → 预警 → 走访清单 → 登记结果 → 超期 → 成效。"""
    import tempfile

    from .alerts import list_alerts
    from .checklist import build_checklist
    from .config import load_config
    from .followup import Outcome, record_outcome
    from .importer import import_paths
    from .overdue import overdue
    from .render import alerts_table, checklist_tables, import_summary, out, overdue_table, report_table, scan_summary
    from .report import funnel
    from .sample import SAMPLE_AS_OF, STORIES, generate_city
    from .scan import scan
    from .store import Store

    with _errors(verbose):
        if db.resolve() == Path("relief.db").resolve():
            raise UsageProblem("演示不能使用 relief.db，请换一个数据库文件名")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if data is None:
            data = Path("sample_data")
            if not data.is_dir():
                data = Path(tempfile.mkdtemp(prefix="relief-sample-"))
                out.print(f"当前目录没有 sample_data，正在生成样例数据到 {data} …")
                generate_city(data)
        store = Store(db, load_config(None))
        out.print(f"[bold]第 1 步：导入 {data} 中的各部门样例数据[/bold]（演示数据库：{db}，统计日期 {SAMPLE_AS_OF}）")
        report = import_paths(store, [data])
        out.print(import_summary(report, {k: v.label for k, v in store.config.sources.items()}))

        out.print(f"\n[bold]第 2 步：运行预警模型（relief scan --as-of {SAMPLE_AS_OF}）[/bold]")
        out.print(scan_summary(scan(store, SAMPLE_AS_OF)))

        out.print("\n[bold]第 3 步：三个典型案例的预警（relief alerts）[/bold]")
        stories = [a for a in list_alerts(store) if a["hukou_no"] in set(STORIES.values())]
        out.print(alerts_table(stories))

        out.print("\n[bold]第 4 步：金口岭社区的三必访走访清单（relief checklist --community 金口岭）[/bold]")
        for renderable in checklist_tables(build_checklist(store, "金口岭", SAMPLE_AS_OF)):
            out.print(renderable)

        visit_day = SAMPLE_AS_OF + dt.timedelta(days=3)
        story = [a["id"] for a in stories if a["hukou_no"] == STORIES["medical_surge"]]
        record_outcome(store, story, Outcome("纳入救助", visit_day, "演示网格员", "医疗救助", "入户核实后纳入医疗救助"))
        out.print(f"\n[bold]第 5 步：登记走访结果[/bold]：{visit_day} 入户核实医疗支出骤增家庭，纳入医疗救助"
                  f"（relief outcome {' '.join(map(str, story))} --result 纳入救助 --detail 医疗救助 …）")

        late_day = SAMPLE_AS_OF + dt.timedelta(days=14)
        out.print(f"\n[bold]第 6 步：{late_day} 仍未走访的超期预警（relief overdue --days 5 --as-of {late_day}）[/bold]")
        out.print(overdue_table(overdue(store, late_day)))

        out.print(f"\n[bold]第 7 步：预警成效（relief report --by rule --to {late_day}）[/bold]")
        out.print(report_table(funnel(store, dt.date(SAMPLE_AS_OF.year, 1, 1), late_day, "rule")))
        out.print(f"\n演示完成。演示数据库：{db}；可继续试用，例如：relief alerts --db {db} --community 金口岭")


