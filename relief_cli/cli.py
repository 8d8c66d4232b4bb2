"""The `relief` command: parse options, call one service, render. Heavy modules load lazily.

Everything an officer reads is Chinese, including what click and typer would print
in English: help pages and usage errors are rendered by usage.py, and option values
that click would check (numbers, choices) are checked here, with Chinese messages,
accepting the Chinese words the tables show as well as the English keys.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__
from .usage import has_cjk, render_help, usage_error_text

# click's exceptions, whichever copy of click this typer uses (its own since typer 0.2x).
_CLICK_ERRORS = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
UsageError = _CLICK_ERRORS["UsageError"]


def usage_error(text: str, ctx: Any = None) -> Any:
    """A click usage error whose Chinese text relief wrote itself."""
    error = UsageError(text, ctx=ctx)
    error.relief_text = text
    return error


class ReliefCommand(TyperCommand):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx) + "\n")

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """An option given twice is refused (click would silently keep the last one)."""
        for param in self.params:
            if getattr(param, "param_type_name", "") != "option" or getattr(param, "multiple", False):
                continue
            names = [*param.opts, *param.secondary_opts]
            given = [a for a in args if a in names or any(a.startswith(n + "=") for n in names if n.startswith("--"))]
            if len(given) > 1:
                raise usage_error(f"选项 {max(param.opts, key=len)} 只能给一次", ctx)
        try:
            return super().parse_args(ctx, args)
        except UsageError as e:
            if getattr(e, "ctx", None) is None:
                e.ctx = ctx  # so the hint names this command's help
            raise


class ReliefGroup(TyperGroup):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx) + "\n")

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and not name.startswith("-"):
            raise usage_error(f"没有命令「{name}」，可用的命令：{'、'.join(self.list_commands(ctx))}", ctx)
        return super().resolve_command(ctx, args)

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Usage errors as one Chinese line with exit 2; a closed pipe (`| head`) ends quietly."""
        _tolerant_console()
        try:
            code = super().main(args=args, prog_name="relief", complete_var=complete_var, standalone_mode=False, **extra)
        except UsageError as e:
            ctx = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
                print(ctx.get_help())
                sys.exit(0)
            where = ctx.command_path if ctx is not None else "relief"
            _stderr(f"错误：{usage_error_text(e)}。用 {where} -h 查看用法。")
            sys.exit(2)
        except _CLICK_ERRORS["ClickException"] as e:  # what is left of click's errors: none a user can cause
            _stderr("错误：命令无法执行" + (f"：{e.message}" if has_cjk(e.message) else "。"))
            sys.exit(1)
        except typer.Abort:
            _stderr("已取消。")
            sys.exit(1)
        except OSError as e:
            if closed_pipe(e):
                _quiet_closed_stdout()
                sys.exit(1)
            raise
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


def closed_pipe(e: BaseException) -> bool:
    """The reader of our output went away (`relief alerts | more` quit early)."""
    if isinstance(e, BrokenPipeError):
        return True
    return os.name == "nt" and isinstance(e, OSError) and e.errno == errno.EINVAL  # how Windows reports it


def _tolerant_console() -> None:
    """Output redirected under a Chinese code page (chcp 936) is written in GB18030, the superset
    of GBK that also has the rare characters of names; any other code page gets '?' for a character
    it cannot show. Never a UnicodeEncodeError halfway through a table."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if not encoding or encoding.startswith("utf") or not hasattr(stream, "reconfigure"):
            continue
        if encoding in ("gbk", "cp936", "gb2312", "936", "ms936"):
            stream.reconfigure(encoding="gb18030")
        else:
            stream.reconfigure(errors="replace")


def _stderr(line: str) -> None:
    """One line for the officer; names quoted from files show their control characters escaped."""
    from .render import visible

    print(visible(line), file=sys.stderr)


def _quiet_closed_stdout() -> None:
    """The reader went away (`relief alerts | head`): nothing more to say, and no error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    cls=ReliefGroup,
    help="relief：社会救助“政策找人”工具。导入各部门数据、运行预警模型、跟踪网格员走访。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
rules_app = typer.Typer(cls=ReliefGroup, help="规则文件 rules.yaml：检查，或生成一份可编辑的副本。", no_args_is_help=True,
                        rich_markup_mode=None, context_settings=CONTEXT)
app.add_typer(rules_app, name="rules")
admin_app = typer.Typer(cls=ReliefGroup, help="服务器模式的用户和权限：每个区县、乡镇（街道）的用户只能看到本辖区的数据。"
                        "由数据库管理员（建库的用户）运行。", no_args_is_help=True, rich_markup_mode=None, context_settings=CONTEXT)
app.add_typer(admin_app, name="admin")


def command(name: str) -> Any:
    return app.command(name, cls=ReliefCommand)


def _show_version(value: bool) -> None:
    if value:
        print(f"relief {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="显示版本号并退出。", is_eager=True, callback=_show_version)] = False,
) -> None:
    """Everything relief creates (database, -wal/-shm, exports) is owner-only where the system has modes."""
    os.umask(0o077)


DbOpt = Annotated[str, typer.Option("--db", metavar="数据库", envvar="RELIEF_DB",
                                    help="数据库文件路径，或 PostgreSQL 服务器地址 postgresql://用户名@主机:端口/数据库名"
                                         "（也可用环境变量 RELIEF_DB 指定）。")]
RulesOpt = Annotated[Optional[Path], typer.Option("--rules", metavar="规则文件",
                                                  help="规则文件路径（默认：当前文件夹的 rules.yaml，没有则用内置规则）。")]
AsOfOpt = Annotated[Optional[str], typer.Option("--as-of", metavar="日期", help="统计截止日期 YYYY-MM-DD（默认：今天）。")]
FutureOpt = Annotated[bool, typer.Option("--allow-future", help="允许 --as-of 晚于今天（试算未来的期限时用）。")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="出错时显示技术细节（调用栈）。")]
ShowPiiOpt = Annotated[bool, typer.Option("--show-pii", help="显示完整身份证号、电话和姓名（会记入审计表）。")]
FmtOpt = Annotated[str, typer.Option("--format", metavar="格式", help="输出格式：table（表格）或 json。")]
ListFmtOpt = Annotated[str, typer.Option("--format", metavar="格式", help="输出格式：table（表格）、json 或 csv。")]
XlsxOpt = Annotated[Optional[Path], typer.Option("--xlsx", metavar="文件.xlsx", help="同时导出为 Excel 工作簿。")]
FORMATS = {"table": "表格", "json": "json"}
LIST_FORMATS = {**FORMATS, "csv": "csv"}


class UsageProblem(Exception):
    """A bad option value detected by a command (Chinese message); exit 2 like click's own."""


class DataProblem(Exception):
    """The command was used right but cannot do its job on this data (Chinese message); exit 1."""


@contextmanager
def _errors(verbose: bool) -> Iterator[None]:
    """Known problems become one Chinese line; others too, unless --verbose."""
    from .alerts import NoMatch
    from .config import ConfigError
    from .privacy import OutputProblem
    from .store import StoreError

    try:
        yield
    except typer.Exit:
        raise
    except ConfigError as e:
        _stderr("规则文件有误：")
        for p in e.problems:
            _stderr(f"  {p}")
        raise typer.Exit(1) from None
    except UsageProblem as e:
        _stderr(f"错误：{e}")
        raise typer.Exit(2) from None
    except (StoreError, DataProblem, NoMatch, OutputProblem) as e:
        _stderr(f"错误：{e}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _stderr("已中断，本次未完成的文件没有写入数据库。")
        raise typer.Exit(130) from None
    except Exception as e:
        if verbose or closed_pipe(e):  # a closed pipe ends quietly (ReliefGroup.main)
            raise
        server = _server_problem(e)
        if server is not None:  # refused by the server outside relief's transactions (rights, connection)
            _stderr(f"错误：{server}")
            raise typer.Exit(1) from None
        # The message of an unexpected error may quote a cell: show only its type.
        _stderr(f"内部错误（{type(e).__name__}）。请加 --verbose 重试以查看详情，并报告给维护人员。")
        raise typer.Exit(1) from None


def _server_problem(e: Exception) -> str | None:
    """A PostgreSQL server's refusal met outside relief's transactions, in Chinese and without the
    statement or its values; None for anything else."""
    from .store import _is_pg_error

    if not _is_pg_error(e):
        return None
    from .pg import error_reason

    return error_reason(e)


def _choice(value: str, option: str, choices: dict[str, str]) -> str:
    """The English key or the Chinese word the tables show (`--status 待走访` = `--status open`)."""
    for key, label in choices.items():
        if value in (key, label):
            return key
    listed = "、".join(f"{k}（{v}）" if v != k else k for k, v in choices.items())
    raise UsageProblem(f"{option} 不能是「{value}」，可选：{listed}")


def _number(value: str | None, option: str, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise UsageProblem(f"{option} 应为整数，而不是「{value}」") from None
    if minimum is not None and number < minimum:
        raise UsageProblem(f"{option} 不能小于 {minimum}（给的是 {number}）")
    return number


def _date(value: str, option: str) -> dt.date:
    from .values import ValueProblem, parse_date

    try:
        return parse_date(value)
    except ValueProblem:
        raise UsageProblem(f"{option} 日期无法识别：{value}（应为 YYYY-MM-DD）") from None


def _as_of(value: str | None, option: str = "--as-of", allow_future: bool = False) -> dt.date:
    today = dt.date.today()
    if value is None:
        return today
    day = _date(value, option)
    if day > today and not allow_future:
        raise UsageProblem(f"{option} {day} 晚于今天（{today}）；确需按未来日期计算时请加 --allow-future")
    return day


def _open_store(target: str | Path, rules: Path | None, *, create: bool = False, near: tuple[Path, ...] = (),
                announce: bool = False) -> Any:
    """Only import and demo create a database; other commands on a missing one say what to do.
    A postgresql:// address is a server's database (it must exist: an administrator creates it); there
    too, only import and demo give it relief's tables."""
    from .config import load_config, rules_origin
    from .pg import is_url
    from .store import Store

    if is_url(target):
        origin = rules_origin(rules, (Path.cwd(), *near))
        store = Store(str(target), load_config(rules), create=create)  # a refusal is the one line said
        if announce:
            _announce_rules(origin)
        return store
    db = Path(target)
    if not create and not db.is_file():
        raise DataProblem(f"数据库 {db} 不存在；先用 relief import 导入数据" if not db.is_dir()
                          else f"{db} 是一个文件夹，--db 应为数据库文件")
    origin = rules_origin(rules, (db.resolve().parent, *near))
    config = load_config(rules)
    if announce:
        _announce_rules(origin)
    return Store(db, config)


def _announce_rules(origin: Any) -> None:
    _stderr(f"规则：{'内置规则' if origin.builtin else origin.path}")
    for other in origin.unused:
        _stderr(f"注意：{other} 存在但没有使用（当前文件夹没有 rules.yaml）；要用它，请加 --rules {other}")


def _warn_unknown_years(store: Any, *days: dt.date) -> None:
    """Due dates in a year whose official schedule is not known yet would silently skip its holidays."""
    from .workdays import WorkCalendar

    calendar = WorkCalendar.from_settings(store.config.settings.calendar)
    for year in sorted({d.year for d in days}):
        if not calendar.knows_year(year):
            _stderr(f"注意：已安装的节假日日历还没有 {year} 年的放假和调休安排，{year} 年的走访期限只按周末和固定节日估算"
                    f"（没有调休）；国务院公布后，请在 rules.yaml 的 calendar 下补充 holidays（放假日）和 workdays（调休上班日）。")


def _horizon(day: dt.date) -> dt.date:
    """The latest date a due date counted from `day` can fall on (5 working days, with a long holiday)."""
    return day + dt.timedelta(days=21)


def _output(path: Path | None) -> None:
    if path is not None:
        from .privacy import check_output

        check_output(path)


@command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(metavar="文件或文件夹", help="要导入的文件或文件夹（.xlsx / .xls / .csv）。",
                                                show_default=False)],
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    source: Annotated[Optional[str], typer.Option("--source", metavar="来源",
                                                  help="强制按指定来源导入（如 medical 或 医保结算），不自动识别。")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="日期",
                                                 help="名单的日期 YYYY-MM-DD（默认：今天）：整表中没有的人从这天起移出。")] = None,
    allow_future: FutureOpt = False,
    allow_shrink: Annotated[bool, typer.Option("--allow-shrink", help="确认整表名单确实大幅减少时加上（否则移出超过 20% 的整表拒绝导入）。")] = False,
    partial: Annotated[bool, typer.Option("--partial", help="补充名单：整表类数据只新增和更新，不移出任何人。")] = False,
    fmt: FmtOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """导入各部门导出的表格：自动识别来源，规范化数值，拒收行写入拒收明细工作簿。"""
    from .importer import import_paths
    from .render import import_summary, out, print_json

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        day = _as_of(as_of, allow_future=allow_future)
        if source is not None:
            from .config import load_config

            source = _choice(source, "--source", {k: v.label for k, v in load_config(rules).sources.items()})
        if not any(p.exists() for p in paths):
            raise DataProblem(f"找不到要导入的文件或文件夹：{'、'.join(map(str, paths))}（没有建立数据库）")
        store = _open_store(db, rules, create=True, near=tuple(p.resolve().parent for p in paths), announce=True)
        with _progress(enabled=fmt == "table") as progress:
            report = import_paths(store, paths, source=source, progress=progress, as_of=day, allow_shrink=allow_shrink,
                                   partial=partial)
        if report.sheets and any(s.rejects_file for s in report.sheets):
            store.audit("import:rejects", {"paths": [str(p) for p in paths]}, sum(s.rejected for s in report.sheets), False,
                        ";".join(sorted({s.rejects_file for s in report.sheets if s.rejects_file})))
        if fmt == "json":
            print_json([s.as_dict() for s in report.sheets])
        else:
            out.print(import_summary(report, {k: v.label for k, v in store.config.sources.items()}))
        for f in report.failures:
            _stderr(f"{f.file} 已导入，但{f.reason}" if f.imported else f"无法导入 {f.file}：{f.reason}")
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


@command("scan")
def scan_cmd(
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    allow_future: FutureOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只计算不写入：按规则列出将产生多少预警、与库中已有的差异。")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """运行预警模型：按规则找出需要走访的人和户，生成预警并分派到网格员。"""
    from .render import out, scan_summary
    from .scan import dry_run as scan_dry_run
    from .scan import scan

    with _errors(verbose):
        day = _as_of(as_of, allow_future=allow_future)
        store = _open_store(db, rules, announce=True)
        _warn_unknown_years(store, day, _horizon(day))
        result = scan_dry_run(store, day) if dry_run else scan(store, day)
        out.print(scan_summary(result))
        _warn_sources(store, result.warnings)


def _warn_sources(store: Any, warnings: Any) -> None:
    """Per rule, the sources it reads that are missing or older than their cadence; then once what that means."""
    from .status import consequences

    for w in warnings:
        _stderr(f"注意：{w.text}")
    for line in consequences(warnings, store.config.settings):
        _stderr(f"注意：{line}")


STATUSES = {"open": "待走访", "closed": "已办结"}


@command("alerts")
def alerts_cmd(
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    community: Annotated[Optional[str], typer.Option("--community", metavar="社区", help="社区（村）名称，可只写一部分，如 金口岭。")] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", metavar="网格", help="网格名称（可只写一部分）。")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", metavar="规则", help="规则编号或名称。")] = None,
    family: Annotated[Optional[str], typer.Option("--family", metavar="模型", help="模型：支出骤增 / 收入骤减 / 收入不稳定 / 类别升级。")] = None,
    status: Annotated[Optional[str], typer.Option("--status", metavar="状态", help="状态：待走访（open）或 已办结（closed）。")] = None,
    household: Annotated[Optional[str], typer.Option("--household", metavar="户号", help="只列这一户（户本身和户内成员）的预警。")] = None,
    fmt: ListFmtOpt = "table",
    xlsx: XlsxOpt = None,
    with_refs: Annotated[bool, typer.Option("--with-refs", help="json 输出中附上每条预警的来源记录（文件、工作表、行号）。")] = False,
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """列出预警（未分派的排在最前）。"""
    from .alerts import AlertFilter, check_filter, list_alerts
    from .privacy import Masker
    from .render import alerts_table, out, print_csv, print_json, write_alerts_xlsx

    with _errors(verbose):
        fmt = _choice(fmt, "--format", LIST_FORMATS)
        status = _choice(status, "--status", STATUSES) if status is not None else None
        _output(xlsx)
        store = _open_store(db, rules, announce=True)
        flt = AlertFilter(community=community, grid=grid, rule=rule, family=family, status=status,
                          household=household.strip() if household else None)
        check_filter(store, flt)
        rows = list_alerts(store, flt, Masker(show_pii), with_refs=with_refs and fmt == "json")
        if show_pii or xlsx is not None or fmt != "table":
            store.audit("alerts", {**flt.as_dict(), "format": fmt}, len(rows), show_pii, str(xlsx) if xlsx else None)
        if fmt == "json":
            print_json(rows)
        elif fmt == "csv":
            print_csv(rows)
        else:
            out.print(alerts_table(rows))
        if xlsx is not None:
            write_alerts_xlsx(xlsx, rows)
            out.print(f"已导出 {len(rows)} 条预警到 {xlsx}")


@command("overdue")
def overdue_cmd(
    days: Annotated[Optional[str], typer.Option("--days", metavar="天数", help="走访时限（工作日，默认取 rules.yaml 的 visit_working_days）。")] = None,
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    allow_future: FutureOpt = False,
    community: Annotated[Optional[str], typer.Option("--community", metavar="社区", help="只看这个社区（村），可只写一部分。")] = None,
    fmt: FmtOpt = "table",
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", metavar="文件.xlsx", help="导出工作簿，每个乡镇（街道）一张表（A4 横向），便于下发；加 --show-pii 带户号和住址。")] = None,
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """超期未走访的预警：按区县 → 乡镇（街道）→ 社区 → 网格员分组。"""
    from .alerts import AlertFilter, check_filter
    from .overdue import overdue
    from .privacy import Masker
    from .render import out, overdue_table, print_json

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        n = _number(days, "--days", minimum=1)
        day = _as_of(as_of, allow_future=allow_future)
        _output(xlsx)
        store = _open_store(db, rules, announce=True)
        _warn_unknown_years(store, day)
        flt = AlertFilter(community=community)
        check_filter(store, flt)
        result = overdue(store, day, n, flt, Masker(show_pii), with_alerts=fmt == "json" or xlsx is not None)
        if show_pii or xlsx is not None or fmt == "json":
            store.audit("overdue", {"days": result.days, "as_of": result.as_of, "community": community}, len(result.alerts),
                        show_pii, str(xlsx) if xlsx else None)
        if fmt == "json":
            print_json(result.alerts)
        else:
            out.print(overdue_table(result))
        if xlsx is not None:
            from .overdue_sheet import write_overdue_xlsx

            write_overdue_xlsx(xlsx, result, show_pii)
            out.print(f"已导出 {len(result.alerts)} 条超期预警到 {xlsx}（每个乡镇一张表，A4 横向）"
                      + ("" if show_pii else "；要带户号和住址下发，请加 --show-pii"))


@command("outcome")
def outcome_cmd(
    result: Annotated[str, typer.Option("--result", metavar="结果", help="走访结果：纳入救助 / 转办 / 不符合条件 / 无法联系 / 已在保无需处理。",
                                        show_default=False)],
    handler: Annotated[str, typer.Option("--handler", metavar="姓名", help="走访人（经办人）。", show_default=False)],
    alert_ids: Annotated[Optional[list[str]], typer.Argument(metavar="预警编号", help="预警编号（可多个）。", show_default=False)] = None,
    household: Annotated[Optional[str], typer.Option("--household", metavar="户号", help="按户登记：该户所有待走访预警一并办结。")] = None,
    detail: Annotated[Optional[str], typer.Option("--detail", metavar="类型或部门", help="纳入救助时填救助类型（低保、特困、临时救助…），转办时填部门。")] = None,
    visit_date: Annotated[Optional[str], typer.Option("--date", metavar="日期", help="走访日期 YYYY-MM-DD（默认今天）。")] = None,
    note: Annotated[Optional[str], typer.Option("--note", metavar="备注", help="备注。")] = None,
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """登记走访结果并办结预警（每次变更都保留历史）。"""
    from .followup import Outcome, OutcomeProblem, household_alerts, record_outcome
    from .render import out

    with _errors(verbose):
        ids = [_number(a, "预警编号", minimum=1) for a in alert_ids or []]
        day = _date(visit_date, "--date") if visit_date else dt.date.today()
        if day > dt.date.today():
            raise UsageProblem(f"--date 走访日期 {day} 晚于今天（{dt.date.today()}），请填写实际走访的日期")
        store = _open_store(db, rules, announce=True)
        if household:
            ids += household_alerts(store, household)
            if not ids:
                raise DataProblem(f"户号 {household} 没有待走访的预警")
        if not ids:
            raise UsageProblem("请给出预警编号，或用 --household 指定户号")
        try:
            changed = record_outcome(store, ids, Outcome(result, day, handler, detail, note))
        except OutcomeProblem as e:
            raise DataProblem(str(e)) from None
        out.print(f"已登记走访结果「{result}」，办结预警 {changed} 条（编号 {'、'.join(map(str, ids))}）。")


@command("reopen")
def reopen_cmd(
    alert_id: Annotated[str, typer.Argument(metavar="预警编号", help="预警编号。", show_default=False)],
    handler: Annotated[str, typer.Option("--handler", metavar="姓名", help="经办人。")] = "",
    note: Annotated[Optional[str], typer.Option("--note", metavar="原因", help="重新打开的原因。")] = None,
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """重新打开已办结的预警（历史保留）。"""
    from .followup import OutcomeProblem, reopen
    from .render import out

    with _errors(verbose):
        number = _number(alert_id, "预警编号", minimum=1)
        store = _open_store(db, rules)
        try:
            reopen(store, number, handler, note)
        except OutcomeProblem as e:
            raise DataProblem(str(e)) from None
        out.print(f"预警 {number} 已重新打开。")


@command("history")
def history_cmd(
    alert_id: Annotated[str, typer.Argument(metavar="预警编号", help="预警编号。", show_default=False)],
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    fmt: FmtOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """查看一条预警的办理历史。"""
    from .followup import OutcomeProblem, history
    from .render import out, print_json, table

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        number = _number(alert_id, "预警编号", minimum=1)
        store = _open_store(db, rules)
        try:
            rows = history(store, number)
        except OutcomeProblem as e:
            raise DataProblem(str(e)) from None
        if fmt == "json":
            print_json(rows)
        else:
            labels = {"close": "办结", "reopen": "重新打开"}
            out.print(table(f"预警 {number} 办理历史", ["时间", "操作", "结果", "类型/部门", "走访日期", "走访人", "备注", "来源"],
                            [[r["recorded_at"], labels[r["action"]], r["outcome"], r["detail"], r["visit_date"], r["handler"],
                              r["note"], r["origin"]] for r in rows]))


REPORT_GROUPS = {"rule": "规则", "community": "社区", "month": "月份"}


@command("report")
def report_cmd(
    date_from: Annotated[Optional[str], typer.Option("--from", metavar="日期", help="起始日期（按推送日期，默认今年 1 月 1 日）。")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", metavar="日期", help="截止日期（默认今天）。")] = None,
    by: Annotated[str, typer.Option("--by", metavar="分组", help="分组：规则（rule）、社区（community）或 月份（month）。")] = "rule",
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    fmt: FmtOpt = "table",
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", metavar="文件.xlsx", help="导出含图表的工作簿（一页 A4），可直接用于月报。")] = None,
    pdf: Annotated[Optional[Path], typer.Option("--pdf", metavar="文件.pdf", help="另存为 PDF（需要安装 LibreOffice）。")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """预警成效月报：推送 → 走访 → 纳入救助，转化率、精确率和超期率。"""
    from .render import out, print_json, report_table
    from .report import funnel

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        by = _choice(by, "--by", REPORT_GROUPS)
        end = _date(date_to, "--to") if date_to else dt.date.today()
        start = _date(date_from, "--from") if date_from else dt.date(end.year, 1, 1)
        if start > end:
            raise UsageProblem("--from 不能晚于 --to")
        _output(xlsx)
        if pdf is not None:
            from .privacy import check_output

            check_output(pdf, ".pdf")
        store = _open_store(db, rules, announce=True)
        _warn_unknown_years(store, end)
        result = funnel(store, start, end, by)
        if fmt == "json":
            print_json(result.as_dict())
        else:
            out.print(report_table(result))
        written = ";".join(str(p) for p in (xlsx, pdf) if p is not None)
        if written:
            store.audit("report", {"from": result.date_from, "to": result.date_to, "by": by}, len(result.rows), False, written)
            from .report_sheet import write_report_xlsx
        if xlsx is not None:
            write_report_xlsx(xlsx, result)
            out.print(f"已导出到 {xlsx}（表格和图表在一页 A4 横向纸上）")
        if pdf is not None:
            from .pdf import write_pdf

            write_pdf(pdf, lambda path: write_report_xlsx(path, result))
            out.print(f"已生成 PDF：{pdf}")


@command("checklist")
def checklist_cmd(
    community: Annotated[Optional[str], typer.Option("--community", metavar="社区", help="社区（村）名称，可只写一部分，如 金口岭。",
                                                     show_default=False)] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", metavar="网格", help="只列这个网格（可只写一部分）。")] = None,
    all_: Annotated[bool, typer.Option("--all", help="批量：每个社区（村）一个工作簿，写到 --out 文件夹。")] = False,
    district: Annotated[Optional[str], typer.Option("--district", metavar="区县", help="与 --all 同用：只要这个区县。")] = None,
    town: Annotated[Optional[str], typer.Option("--town", metavar="乡镇", help="与 --all 同用：只要这个乡镇（街道）。")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="文件夹", help="与 --all 同用：工作簿写到这个文件夹。")] = None,
    by_worker: Annotated[bool, typer.Option("--by-worker", help="与 --all 同用：每个网格员一个工作簿。")] = False,
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    allow_future: FutureOpt = False,
    fmt: FmtOpt = "table",
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", metavar="文件.xlsx",
                                                 help="导出可打印的走访清单工作簿（户清单、入户走访记录表，以及可导回的结果录入表）。")] = None,
    pdf: Annotated[Optional[Path], typer.Option("--pdf", metavar="文件.pdf", help="另存为 PDF（需要安装 LibreOffice）。")] = None,
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """三必访 / 五问 走访清单：按网格列出要走访的户、原因、期限和五问；可打印、可批量。"""
    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        day = _as_of(as_of, allow_future=allow_future)
        if all_:
            if community or grid or xlsx or pdf:
                raise UsageProblem("--all 与 --community、--grid、--xlsx、--pdf 不能同用")
            if out_dir is None:
                raise UsageProblem("--all 需要用 --out 指定输出文件夹")
            _checklists_all(db, rules, day, district, town, out_dir, by_worker, fmt, show_pii)
            return
        if community is None:
            raise UsageProblem("请用 --community 指定社区（村），或用 --all 批量生成")
        if district or town or out_dir or by_worker:
            raise UsageProblem("--district、--town、--out、--by-worker 只能与 --all 同用")
        _checklist_one(db, rules, day, community, grid, fmt, xlsx, pdf, show_pii)


def _checklist_one(db: str, rules: Path | None, day: dt.date, community: str, grid: str | None, fmt: str,
                   xlsx: Path | None, pdf: Path | None, show_pii: bool) -> None:
    from .checklist import CommunityNotFound, build_checklist
    from .privacy import Masker, check_output
    from .render import checklist_tables, out, print_json

    _output(xlsx)
    if pdf is not None:
        check_output(pdf, ".pdf")
    store = _open_store(db, rules, announce=True)
    _warn_unknown_years(store, day, _horizon(day))
    try:
        result = build_checklist(store, community, day, grid=grid, masker=Masker(show_pii))
    except CommunityNotFound as e:
        raise DataProblem(str(e)) from None
    households = sum(len(g.households) for g in result.grids)
    written = ";".join(str(p) for p in (xlsx, pdf) if p is not None)
    if show_pii or written or fmt == "json":
        store.audit("checklist", {"community": result.community, "grid": grid, "format": fmt}, households,
                    show_pii, written or None)
    if fmt == "json":
        print_json(result.as_dict())
    else:
        for renderable in checklist_tables(result):
            out.print(renderable)
    if xlsx is None and pdf is None:
        return
    from .visit_sheet import write_visit_workbook  # openpyxl loads only when a workbook is written

    outcomes = store.config.settings.outcomes
    if xlsx is not None:
        book = write_visit_workbook(xlsx, result, outcomes)
        out.print(f"已导出走访清单 {households} 户到 {xlsx}：每个网格一份户清单（A4 横向）和每户一页入户走访记录表"
                  f"（A4 纵向，共 {sum(book.pages.values())} 页），另附可导回的结果录入表")
    if pdf is not None:
        from .pdf import write_pdf

        write_pdf(pdf, lambda path: write_visit_workbook(path, result, outcomes, entry=False))
        out.print(f"已生成 PDF：{pdf}")


def _checklists_all(db: str, rules: Path | None, day: dt.date, district: str | None, town: str | None, out_dir: Path,
                    by_worker: bool, fmt: str, show_pii: bool) -> None:
    from .checklist import CommunityNotFound
    from .privacy import Masker
    from .render import batch_summary, out, print_json
    from .visit_sheet import collect_batch, write_batch

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageProblem(f"--out 应为文件夹，{out_dir} 是一个文件")
    store = _open_store(db, rules, announce=True)
    _warn_unknown_years(store, day, _horizon(day))
    try:
        result, lists = collect_batch(store, day, district=district, town=town, masker=Masker(show_pii))
    except CommunityNotFound as e:
        raise DataProblem(str(e)) from None
    store.audit("checklist:all", {"district": district, "town": town, "by_worker": by_worker}, result.households,
                show_pii, str(out_dir))
    write_batch(result, lists, out_dir, store.config.settings.outcomes, by_worker=by_worker)
    if fmt == "json":
        print_json(result.as_dict())
    else:
        out.print(batch_summary(result))


@command("rejects")
def rejects_cmd(
    import_id: Annotated[str, typer.Argument(metavar="导入编号", help="导入结果中的 import_id（relief import --format json 可见）。",
                                             show_default=False)],
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", metavar="文件.xlsx", help="写到哪里（默认：数据库旁边的拒收明细文件夹）。")] = None,
    db: DbOpt = "relief.db",
    verbose: VerboseOpt = False,
) -> None:
    """重新写出某次导入的拒收明细工作簿（拒收的行与数据一起保存在数据库里）。"""
    from .importer import default_rejects_dir, rejects_path, write_rejects
    from .render import out

    with _errors(verbose):
        number = _number(import_id, "导入编号", minimum=1)
        _output(xlsx)
        store = _open_store(db, None)
        found = store.import_file(number)
        if found is None:
            raise DataProblem(f"没有编号为 {number} 的导入")
        count = store.conn.execute("SELECT count(*) FROM rejects WHERE import_id = ?", (number,)).fetchone()[0]
        if not count:
            raise DataProblem(f"导入 {number}（{found[0]}）没有拒收的行")
        target = xlsx or rejects_path(default_rejects_dir(store.path), Path(found[0]), number)
        store.audit("rejects", {"import_id": number}, count, True, str(target))  # the original cells, unmasked
        write_rejects(store, number, target)
        out.print(f"已写出导入 {number}（{found[0]}）的拒收明细 {count} 行：{target}")


@command("household")
def household_cmd(
    key: Annotated[str, typer.Argument(metavar="户号或身份证号", help="户号，或户内任一成员的身份证号。", show_default=False)],
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    allow_future: FutureOpt = False,
    fmt: FmtOpt = "table",
    show_pii: ShowPiiOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """一户一档：一户的成员、类别、各部门记录、预警及办理历史、走访，每条记录注明来源文件和行号。"""
    from .household import HouseholdNotFound, find_household
    from .privacy import Masker
    from .render import household_view, out, print_json

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        day = _as_of(as_of, allow_future=allow_future)
        store = _open_store(db, rules)
        try:
            result = find_household(store, key, day, Masker(show_pii))
        except HouseholdNotFound as e:
            raise DataProblem(str(e)) from None
        if show_pii or fmt == "json":
            store.audit("household", {"hukou_no": result.hukou_no, "as_of": result.as_of, "format": fmt},
                        len(result.members), show_pii)
        if fmt == "json":
            print_json(result.as_dict())
        else:
            for renderable in household_view(result, store.config.sources):
                out.print(renderable)


@command("status")
def status_cmd(
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    allow_future: FutureOpt = False,
    fmt: FmtOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """数据状态：每类数据最近一次导入、记录数、数据截至哪天，按报送周期是否过期。"""
    from .render import out, print_json, status_table
    from .status import data_status

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        day = _as_of(as_of, allow_future=allow_future)
        store = _open_store(db, rules)
        report = data_status(store, day)
        if fmt == "json":
            print_json(report.as_dict())
        else:
            out.print(status_table(report))


@command("imports")
def imports_cmd(
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    fmt: FmtOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """导入记录：每次导入的时间、文件、工作表、行数和操作人，以及是否已撤销。"""
    from .history import list_imports
    from .render import imports_table, out, print_json

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        store = _open_store(db, rules)
        records = list_imports(store)
        if fmt == "json":
            print_json([r.as_dict() for r in records])
        else:
            out.print(imports_table(records))


@command("undo")
def undo_cmd(
    import_id: Annotated[str, typer.Argument(metavar="导入编号", help="要撤销的导入（编号见 relief imports）。", show_default=False)],
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    fmt: FmtOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """撤销一次导入：删除它新增的记录，把它更新和移出的记录恢复原样，撤回只依据它的待走访预警（记入审计表）。"""
    from .history import UndoRefused, undo_import
    from .render import out, print_json, undo_summary

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        number = _number(import_id, "导入编号", minimum=1)
        store = _open_store(db, rules, announce=True)
        try:
            result = undo_import(store, number)
        except UndoRefused as e:
            raise DataProblem(str(e)) from None
        if fmt == "json":
            print_json(result.as_dict())
        else:
            out.print(undo_summary(result))


@command("migrate")
def migrate_cmd(
    source: Annotated[Path, typer.Option("--from", metavar="数据库文件", help="要迁移的 SQLite 数据库文件（如 relief.db）。",
                                         show_default=False)],
    target: Annotated[str, typer.Option("--to", metavar="服务器地址",
                                        help="目标 PostgreSQL 数据库 postgresql://用户名@主机:端口/数据库名（须为新建的空数据库）。",
                                        show_default=False)],
    rules: RulesOpt = None,
    fmt: FmtOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """把 SQLite 数据库整体迁移到 PostgreSQL 服务器：在一个事务中复制全部表（保留编号），逐表核对行数和校验和，不一致则全部撤回。"""
    from .migrate import ChecksumMismatch, migrate
    from .pg import is_url
    from .render import migrate_table, out, print_json
    from .store import Store

    with _errors(verbose):
        fmt = _choice(fmt, "--format", FORMATS)
        if str(source).lower().startswith(("postgresql:", "postgres:")):  # (a Path keeps one slash of //)
            raise UsageProblem("--from 应为 SQLite 数据库文件，而不是服务器地址")
        if not is_url(target):
            raise UsageProblem("--to 应为 PostgreSQL 服务器地址 postgresql://用户名@主机:端口/数据库名")
        with _open_store(source, rules, announce=True) as from_store, Store(target, from_store.config) as to_store:
            try:
                result = migrate(from_store, to_store, audit={"from": str(source)})
            except ChecksumMismatch as e:
                result = e.result
        if fmt == "json":
            print_json(result.as_dict())
        else:
            out.print(migrate_table(result))
        if not result.ok:
            raise typer.Exit(1)


@rules_app.command("check", cls=ReliefCommand)
def rules_check(rules: RulesOpt = None, verbose: VerboseOpt = False) -> None:
    """检查规则文件，一次列出全部问题。"""
    from .config import load_config, rules_origin
    from .render import out

    with _errors(verbose):
        origin = rules_origin(rules, (Path.cwd(),))
        config = load_config(rules)
        out.print(
            f"{'内置规则' if origin.builtin else origin.path}：检查通过（{len(config.sources)} 个数据来源，"
            f"{len(config.rules)} 条预警规则，{sum(r.enabled for r in config.rules)} 条启用）。"
        )


@rules_app.command("init", cls=ReliefCommand)
def rules_init(
    out_path: Annotated[Path, typer.Option("--out", metavar="文件", help="写到哪里。")] = Path("rules.yaml"),
    force: Annotated[bool, typer.Option("--force", help="文件已存在时覆盖。")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """把内置规则写成一份可编辑的 rules.yaml（之后在这个文件夹运行的命令都用它）。"""
    from .config import default_rules_path
    from .privacy import write_problem
    from .render import out

    with _errors(verbose):
        if out_path.is_dir():
            raise DataProblem(f"{out_path} 是一个文件夹，请写出文件名，例如 {out_path / 'rules.yaml'}")
        if out_path.exists() and not force:
            raise DataProblem(f"{out_path} 已存在，没有覆盖；确需覆盖请加 --force")
        text = default_rules_path().read_text(encoding="utf-8")
        try:
            out_path.write_text(text, encoding="utf-8")  # text mode: CRLF on Windows, as Notepad expects
        except OSError as e:
            raise write_problem(out_path, e) from None
        out.print(f"已写出可编辑的规则文件 {out_path}；修改后可用 relief rules check 检查。")


UserOpt = Annotated[str, typer.Option("--user", metavar="用户名", help="数据库登录用户名（英文字母、数字和下划线）。",
                                      show_default=False)]


@contextmanager
def _admin(db: str, rules: Path | None, verbose: bool) -> Iterator[Any]:
    """A store on a server, opened by its administrator; admin's problems as one Chinese line."""
    from .admin import NOT_ON_SERVER, AdminProblem
    from .pg import is_url

    with _errors(verbose):
        if not is_url(db):
            raise UsageProblem(NOT_ON_SERVER)
        store = _open_store(db, rules)
        try:
            yield store
        except AdminProblem as e:
            raise DataProblem(str(e)) from None
        finally:
            store.close()


def _new_password(password_file: Path | None) -> str:
    """From the file's first line, or typed twice at the terminal (never echoed, never logged)."""
    import getpass

    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8-sig").splitlines()
        except OSError:
            raise DataProblem(f"无法读取密码文件 {password_file}") from None
        if not lines or not lines[0]:
            raise DataProblem(f"密码文件 {password_file} 的第一行是空的")
        return lines[0]
    if not sys.stdin.isatty():
        raise UsageProblem("没有终端可以输入密码，请用 --password-file 指定密码文件")
    first = getpass.getpass("新密码：")
    if getpass.getpass("再输入一次：") != first:
        raise UsageProblem("两次输入的密码不一致")
    return first


@admin_app.command("grant", cls=ReliefCommand)
def admin_grant(
    user: UserOpt,
    district: Annotated[Optional[str], typer.Option("--district", metavar="区县", help="只能看到这个区县（如 义安区）。")] = None,
    town: Annotated[Optional[str], typer.Option("--town", metavar="乡镇", help="只能看到这个乡镇（街道）；重名时同时给 --district。")] = None,
    city: Annotated[bool, typer.Option("--city", help="全市：能看到全部数据，并可导入和运行预警扫描。")] = False,
    password_file: Annotated[Optional[Path], typer.Option("--password-file", metavar="文件",
                                                          help="从这个文件的第一行读取密码（不给则在终端输入；已有的用户不给则保留原密码）。")] = None,
    new_password: Annotated[bool, typer.Option("--new-password", help="已有的用户：在终端输入新密码。")] = False,
    db: DbOpt = "relief.db",
    rules: RulesOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """创建或更新登录用户，限定它能看到的区域：区县、乡镇（街道）或全市。"""
    from .admin import check_name, check_password, grant, role_exists
    from .render import out

    with _admin(db, rules, verbose) as store:
        check_name(user)
        password = None
        if password_file is not None or new_password or not role_exists(store, user):
            password = check_password(_new_password(password_file))
        done = grant(store, user, district=district, town=town, city=city, password=password)
        what = "新建登录用户" if done.created else ("已更新密码" if done.password_set else "密码不变")
        rights = "可导入、运行预警扫描" if done.area.city else "可查看、登记走访结果，不能导入部门数据和运行预警扫描"
        out.print(f"已授权 {user}（{what}）：能看到{done.area.label}的数据，{rights}。")


@admin_app.command("revoke", cls=ReliefCommand)
def admin_revoke(user: UserOpt, db: DbOpt = "relief.db", rules: RulesOpt = None, verbose: VerboseOpt = False) -> None:
    """收回用户的区域和全部权限，并删除它的登录账号。"""
    from .admin import revoke
    from .render import out

    with _admin(db, rules, verbose) as store:
        done = revoke(store, user)
        login = "登录账号已删除" if done.dropped else "它在服务器的其他数据库还有权限，登录账号保留"
        out.print(f"已收回 {user} 在本数据库的全部权限{f'（原可查看{done.area.label}）' if done.area else ''}；{login}。")


@admin_app.command("list", cls=ReliefCommand)
def admin_list(db: DbOpt = "relief.db", rules: RulesOpt = None, fmt: FmtOpt = "table", verbose: VerboseOpt = False) -> None:
    """列出已授权的用户和各自能看到的区域。"""
    from .admin import list_areas
    from .render import out, print_json, table

    with _admin(db, rules, verbose) as store:
        fmt = _choice(fmt, "--format", FORMATS)
        areas = list_areas(store)
        if fmt == "json":
            print_json([a.as_dict() for a in areas])
            return
        login = {True: "可登录", False: "不能登录", None: "用户已不存在"}
        out.print(table("已授权的用户", ["用户", "区域", "区县", "乡镇（街道）", "登录"],
                        [[a.role, a.label, a.district, a.town, login[a.can_login]] for a in areas]))


@command("sample")
def sample_cmd(
    out_dir: Annotated[Path, typer.Option("--out", metavar="文件夹", help="输出文件夹。", show_default=False)],
    households: Annotated[str, typer.Option("--households", metavar="户数", help="生成的户数。")] = "1200",
    seed: Annotated[str, typer.Option("--seed", metavar="种子", help="随机种子（相同种子生成相同数据）。")] = "7",
    verbose: VerboseOpt = False,
) -> None:
    """生成一个虚构城市的各部门导出样例（全部为合成数据，不含真实人员）。"""
    from .render import out, table
    from .sample import STORIES, generate_city

    with _errors(verbose):
        count = _number(households, "--households", minimum=len(STORIES))
        number = _number(seed, "--seed")
        if out_dir.exists() and not out_dir.is_dir():
            raise DataProblem(f"{out_dir} 是一个文件，--out 应为文件夹")
        summary = generate_city(out_dir, households=count, seed=number)
        rows = [[f.path.name, s, n] for f in summary.files for s, n in f.sheets.items()]
        out.print(table(f"已生成 {summary.households:,} 户、{summary.people:,} 人、{summary.records:,} 条记录：{out_dir}",
                        ["文件", "工作表", "行数"], rows, justify_right={"行数"}))


@command("demo")
def demo_cmd(
    db: Annotated[str, typer.Option("--db", metavar="数据库", help="演示数据库（每次重建，不会碰 relief.db）。")] = "relief-demo.db",
    data: Annotated[Optional[Path], typer.Option("--data", metavar="文件夹", help="样例数据文件夹（默认 ./sample_data，没有则现场生成）。")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """用内置样例数据演示完整流程：导入 → 预警 → 走访清单 → 登记结果 → 超期 → 成效 → 一户一档 → 数据状态。"""
    import tempfile

    from .alerts import list_alerts
    from .checklist import build_checklist
    from .followup import Outcome, record_outcome
    from .household import find_household
    from .importer import import_paths
    from .overdue import overdue
    from .render import (alerts_table, checklist_tables, household_view, import_summary, out, overdue_table, report_table,
                         scan_summary, status_table)
    from .report import funnel
    from .sample import SAMPLE_AS_OF, STORIES, generate_city
    from .scan import scan
    from .status import data_status

    with _errors(verbose):
        from .pg import is_url

        if is_url(db):  # Path() would make a folder of the address; the demo drops and rebuilds its database
            raise UsageProblem("演示每次重建它的数据库，只用本机的数据库文件，不用服务器地址；请用 --db 指定一个文件名，如 relief-demo.db")
        db = Path(db)
        if db.resolve() == Path("relief.db").resolve():
            raise UsageProblem("演示不能使用 relief.db，请换一个数据库文件名")
        if data is not None and not data.is_dir():
            raise DataProblem(f"样例数据文件夹 {data} 不存在")
        for suffix in ("", "-wal", "-shm"):
            try:
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            except PermissionError:  # Windows: another relief (or a database viewer) has it open
                raise DataProblem(f"演示数据库 {db} 正被其他程序打开，请关闭后重试，或用 --db 换一个文件名") from None
        if data is None:
            data = Path("sample_data")
            if not data.is_dir():
                data = Path(tempfile.mkdtemp(prefix="relief-sample-"))
                out.print(f"当前文件夹没有 sample_data，正在生成样例数据到 {data} …")
                generate_city(data)
        store = _open_store(db, None, create=True, announce=True)
        out.print(f"[bold]第 1 步：导入 {data} 中的各部门样例数据[/bold]（演示数据库：{db}，统计日期 {SAMPLE_AS_OF}）")
        report = import_paths(store, [data])
        out.print(import_summary(report, {k: v.label for k, v in store.config.sources.items()}))

        out.print(f"\n[bold]第 2 步：运行预警模型（relief scan --as-of {SAMPLE_AS_OF}）[/bold]")
        out.print(scan_summary(scan(store, SAMPLE_AS_OF)))

        out.print("\n[bold]第 3 步：四个典型案例的预警（relief alerts）[/bold]")
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
        future = " --allow-future" if late_day > dt.date.today() else ""
        out.print(f"\n[bold]第 6 步：{late_day} 仍未走访的超期预警（relief overdue --days 5 --as-of {late_day}{future}）[/bold]")
        out.print(overdue_table(overdue(store, late_day)))

        out.print(f"\n[bold]第 7 步：预警成效（relief report --by rule --to {late_day}）[/bold]")
        out.print(report_table(funnel(store, dt.date(SAMPLE_AS_OF.year, 1, 1), late_day, "rule")))

        out.print(f"\n[bold]第 8 步：医疗支出骤增家庭的一户一档（relief household {STORIES['medical_surge']} "
                  f"--as-of {SAMPLE_AS_OF}）[/bold]")
        for renderable in household_view(find_household(store, STORIES["medical_surge"], SAMPLE_AS_OF), store.config.sources):
            out.print(renderable)

        out.print(f"\n[bold]第 9 步：各部门数据是否齐全、是否过期（relief status --as-of {SAMPLE_AS_OF}）[/bold]")
        out.print(status_table(data_status(store, SAMPLE_AS_OF)))
        out.print(f"\n演示完成。演示数据库：{db}；可继续试用，例如：relief alerts --db {db} --community 金口岭")
