"""Rendering service results for the terminal: rich tables and JSON. Nothing here computes."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def _width() -> int | None:
    """The console's width; piped or redirected output (a report pasted into a document) gets a wide,
    stable one. COLUMNS, where set, wins (as in `mode con` / `stty` sessions and in the tests)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    return None if sys.stdout.isatty() else 160


# Text is never re-wrapped: a long plain table (2,000 grid workers) stays aligned and prints 5x faster.
out = Console(highlight=False, soft_wrap=True, width=_width())
err = Console(stderr=True, highlight=False, soft_wrap=True)
# Characters a terminal would act on rather than show: C0/C1 controls (erase line, cursor up, …) and
# the bidirectional overrides that can reorder a line. A cell from an export shows them escaped.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """Text as it may go to a terminal: control characters shown as \\x1b, \\u202e, never acted on."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# An ID (masked or not), a date, a number: a value that must never be broken over two lines.
ATOMIC = re.compile(r"[0-9A-Za-z*.,:/%+\-]{1,24}")


def print_json(data: Any) -> None:
    """A list prints one object per line (fast, and grep-friendly); anything else indented.

    Plain print: rich would re-wrap long strings and break the JSON.
    """
    if isinstance(data, list):
        lines = [json.dumps(item, ensure_ascii=False, default=str) for item in data]
        print("[\n" + ",\n".join(lines) + "\n]" if lines else "[]")
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# rich measures every cell of a table: fine for a screenful, seconds for a city's 2,000 grid workers.
PLAIN_ABOVE_ROWS = 300


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], justify_right: set[str] | None = None,
          whole: set[str] = frozenset()) -> Any:
    """A table that survives a 100-column console: columns of IDs, dates and numbers, and the
    columns in `whole` (file names), never wrap; the other text columns give way."""
    if len(rows) > PLAIN_ABOVE_ROWS:
        return plain_table(title, columns, rows, justify_right or set())
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1), pad_edge=False,
              collapse_padding=True)
    right = justify_right or set()
    texts = [["" if v is None else visible(str(v)) for v in r] for r in rows]
    for j, c in enumerate(columns):
        values = [r[j] for r in texts if r[j]]
        atomic = c in whole or bool(values) and all(ATOMIC.fullmatch(line) for v in values for line in v.splitlines())
        t.add_column(c, justify="right" if c in right else "left", no_wrap=atomic, overflow="fold")
    for r in texts:
        # Text, not markup: a cell from a department's export may contain '[' .
        t.add_row(*(Text(v) for v in r))
    return t


def _clip(line: str, cells: int) -> str:
    """A line cut to `cells` terminal cells, ending in … (CJK characters count two)."""
    from rich.cells import cell_len, set_cell_size

    return line if cell_len(line) <= cells else set_cell_size(line, cells - 1).rstrip() + "…"


def with_caption(t: Any, caption: str) -> Any:
    if isinstance(t, Table):
        t.caption = caption
        t.caption_justify = "left"
        return t
    return Lines([*t.lines, *caption.splitlines()])


class Lines:
    """Lines printed as they are. A rich Text of a city's 10,000 workers would be split and wrapped
    again line by line (0.2 s of a listing's one-second budget); these go out as written."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    @property
    def plain(self) -> str:
        return "\n".join(self.lines)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        for line in self.lines:
            yield Segment(line)
            yield Segment.line()


def plain_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], right: set[str]) -> Lines:
    """Aligned columns without borders (CJK characters count double), for long listings."""
    head, body = _aligned(columns, rows, right)
    return Lines(([title] if title else []) + head + body)


def _aligned(columns: Sequence[str], rows: Sequence[Sequence[Any]], right: set[str]) -> tuple[list[str], list[str]]:
    """The header and its rule, and a line per row, columns padded to their widest cell."""
    from rich.cells import cell_len

    seen: dict[Any, tuple[str, int]] = {}  # a long listing repeats its districts, towns, dates: measured once

    def cell(value: Any) -> tuple[str, int]:
        key = (type(value), value if isinstance(value, (str, int, float)) else str(value))  # 1, 1.0, True print apart
        if key not in seen:
            text = visible(("" if value is None else str(value)).replace("\n", " "))
            seen[key] = (text, cell_len(text))
        return seen[key]

    head = [(c, cell_len(c)) for c in columns]
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([head[j][1]] + [r[j][1] for r in cells]) for j in range(len(columns))]
    flush_right = [c in right for c in columns]

    def line(values: Sequence[tuple[str, int]]) -> str:
        out = []
        for j, (v, n) in enumerate(values):
            pad = " " * (widths[j] - n)
            out.append(pad + v if flush_right[j] else v + pad)
        return "  ".join(out).rstrip()

    return [line(head), "  ".join("-" * w for w in widths)], [line(r) for r in cells]


def import_summary(report: Any, labels: dict[str, str] | None = None) -> Table:
    cols = ["文件", "工作表", "来源", "行数", "新增", "更新", "未变", "移出", "拒收", "说明"]
    counts = ("rows", "imported", "updated", "unchanged", "ended", "rejected")
    rows = []
    for s in report.sheets:
        note = s.skipped_reason or "；".join(filter(None, [f"{s.blanked} 行有内容留空" if s.blanked else "",
                                                           "见拒收明细" if s.rejects_file else ""]))
        source = (labels or {}).get(s.source, s.source) if s.source else "—"
        rows.append([_short(s.file), s.sheet, source, *(getattr(s, k) for k in counts), note])
    for f in report.failures:
        rows.append([_short(f.file), "", "—", *([""] * len(counts)), ("已导入，但" if f.imported else "未导入：") + f.reason])
    total = [sum(getattr(s, k) for s in report.sheets) for k in counts]
    rows.append(["合计", "", "", *total, ""])
    t = table("导入结果", cols, rows, justify_right={"行数", "新增", "更新", "未变", "移出", "拒收"}, whole={"文件"})
    files = sorted({s.rejects_file for s in report.sheets if s.rejects_file})
    if files:
        t = with_caption(t, "拒收明细（改正后可直接再次导入）：\n" + "\n".join(files))
    return t


def scan_summary(result: Any) -> Table:
    if result.dry_run:
        title = f"预警试算（{result.as_of}，未写入数据库）"
        cols = ["规则", "名称", "命中", "将新增", "库中已有"]
        rows = [[r.rule, r.name, r.hits, r.new, r.stored] for r in result.rules]
    else:
        title = f"预警扫描（{result.as_of}）：新增 {result.new} 条"
        cols = ["规则", "名称", "命中", "新增", "此前已有"]
        rows = [[r.rule, r.name, r.hits, r.new, r.stored] for r in result.rules]
    rows.append(["合计", "", sum(r.hits for r in result.rules), sum(r.new for r in result.rules), sum(r.stored for r in result.rules)])
    t = table(title, cols, rows, justify_right={"命中", "新增", "将新增", "库中已有", "此前已有"})
    t = with_caption(t, f"未分派（找不到社区、网格或网格员）的待走访预警：{result.unassigned} 条")
    return t


ALERT_COLUMNS = [
    ("id", "编号"), ("rule_name", "规则"), ("severity", "等级"), ("id_no", "身份证号"), ("name", "姓名"),
    ("community", "社区"), ("grid", "网格"), ("worker", "网格员"), ("raised_on", "推送日期"),
    ("due_on", "走访期限"), ("status", "状态"), ("evidence", "依据"),
]
STATUS_LABELS = {"open": "待走访", "closed": "已办结"}


def _alert_cells(row: dict[str, Any]) -> list[Any]:
    cells = []
    for key, _ in ALERT_COLUMNS:
        value = row.get(key)
        if key == "status":
            value = STATUS_LABELS.get(value, value)
        elif key == "worker" and not value:
            value = "（未分派）"
        cells.append(value)
    return cells


def alerts_table(rows: Sequence[dict[str, Any]]) -> Text:
    """A line of short fields per alert, its rule and evidence on the line below (cut to the console)."""
    cells, details = [], []
    for r in rows:
        place = r.get("grid") or ""
        if r.get("community") and not place.startswith(r["community"]):
            place = f"{r['community']} {place}".strip()
        cells.append([r["id"], r["id_no"], r["name"], r["due_on"], STATUS_LABELS.get(r["status"], r["status"]),
                      r.get("worker") or "（未分派）", place])
        details.append([f"{r['rule_name']}（{r['severity']}）：{r['evidence']}"])
    return record_list(f"预警 {len(rows)} 条", ["编号", "身份证号", "姓名", "走访期限", "状态", "网格员", "社区/网格"],
                       cells, details, right={"编号"})


def record_list(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                details: Sequence[Sequence[str]], right: set[str] | None = None, width: int | None = None) -> Text:
    """Records too wide for one line of a console (100 columns): their short fields (IDs, dates,
    names) aligned on one line that is never wrapped, their long texts on indented lines below,
    each cut to the console width with … (the full text is in --format json and --xlsx)."""
    width = width or out.width
    head, lines = _aligned(columns, rows, right or set())
    body = [_clip(line, width) for line in head]
    for line, texts in zip(lines, details):
        body.append(_clip(line, width))
        body.extend(_clip(f"    {visible(t)}", width) for text in texts for t in text.splitlines() if t)
    return Text("\n".join(([title] if title else []) + body))


def print_csv(rows: Sequence[dict[str, Any]]) -> None:
    import csv
    import sys

    from .privacy import csv_safe

    if not rows:
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")  # text mode turns it into \r\n on Windows
    keys = [k for k in rows[0] if k != "refs"]  # references are in --format json --with-refs
    writer.writerow(keys)
    for r in rows:
        writer.writerow([csv_safe(json.dumps(r[k], ensure_ascii=False) if isinstance(r[k], (dict, list)) else r[k]) for k in keys])


def write_alerts_xlsx(path: Any, rows: Sequence[dict[str, Any]]) -> None:
    from pathlib import Path

    from .xlsx import SheetSpec, write_workbook

    write_workbook(Path(path), [SheetSpec("预警", [label for _, label in ALERT_COLUMNS], [_alert_cells(r) for r in rows])])


def overdue_table(result: Any) -> Table:
    rows = []
    for g in result.groups:
        rows.append([g.district, g.town, g.community, g.worker, g.count, g.max_overdue, g.oldest])
    total = sum(g.count for g in result.groups)
    return table(f"超期未走访预警（截至 {result.as_of}，时限 {result.days} 个工作日）：共 {total} 条",
              ["区县", "乡镇（街道）", "社区（村）", "网格员", "超期条数", "最多超期（工作日）", "最早推送"], rows,
              justify_right={"超期条数", "最多超期（工作日）"})


OVERDUE_COLUMNS = [*ALERT_COLUMNS, ("working_days_overdue", "超期工作日")]


REPORT_COLUMNS = ["推送预警", "已走访", "纳入救助", "纳入救助对象数", "转化率", "精确率", "超期率"]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _report_cells(r: Any) -> list[Any]:
    return [r.group, r.raised, r.visited, r.added, r.subjects_added, _pct(r.conversion), _pct(r.precision), _pct(r.overdue_rate)]


def report_table(report: Any) -> Table:
    from .report import GROUP_LABEL

    rows = [_report_cells(r) for r in report.rows] + [_report_cells(report.total)]
    t = table(f"预警成效（{report.date_from} 至 {report.date_to}）", [GROUP_LABEL[report.by], *REPORT_COLUMNS], rows,
              justify_right=set(REPORT_COLUMNS))
    t = with_caption(t, "转化率 = 纳入救助 ÷ 推送预警；精确率 = 纳入救助 ÷ 已走访；\n超期率 = 超过时限才走访或仍未走访 ÷ 推送预警")
    return t


def checklist_tables(result: Any) -> list[Any]:
    out: list[Any] = []
    total = sum(len(g.households) for g in result.grids)
    out.append(Text(visible(f"{result.community} 三必访走访清单（截至 {result.as_of}，共 {total} 户）"), style="bold"))
    for g in result.grids:
        worker = visible(f"网格员 {g.worker or '（未分派）'}" + (f"　电话 {g.worker_phone}" if g.worker_phone else ""))
        rows = [[h.hukou_no, h.head_name, h.category, h.due_on, h.address] for h in g.households]
        details = [[f"【{r.kind}】{r.detail}" for r in h.reasons] for h in g.households]
        out.append(Text(""))
        out.append(record_list(f"{visible(g.grid)}　{worker}　{len(g.households)} 户", ["户号", "户主", "类别", "走访期限", "住址"],
                               rows, details))
    out.append(Text(""))
    out.append("[bold]五问[/bold]")
    for i, q in enumerate(result.questions, start=1):
        out.append(Text(visible(f"  {i}. {q.title}：{q.prompt}")))
    return out


def _short(path: str) -> str:
    """The file name alone (Path splits at \\ on Windows, as at /)."""
    from pathlib import Path

    return Path(path).name


def batch_summary(result: Any) -> Any:
    """What relief checklist --all wrote: a line of totals, then one row per file."""
    rows = [[_short(f.path), f.grids, f.households, f.pages] for f in result.files]
    t = table(f"走访清单（截至 {result.as_of}）：{result.communities} 个社区（村），{result.grids} 个网格，"
              f"{result.households} 户，{len(result.files)} 个文件", ["文件", "网格", "户数", "打印页数"], rows,
              justify_right={"网格", "户数", "打印页数"}, whole={"文件"})
    if result.empty:
        shown = "、".join(result.empty[:10]) + (f" 等 {len(result.empty)} 个" if len(result.empty) > 10 else "")
        t = with_caption(t, f"暂无需要走访的户、未生成文件的社区（村）：{shown}")
    return t


# -- records: data freshness, import history, 一户一档 ------------------------------------------
def status_table(report: Any) -> Text:
    """A line per source (cadence, last import, rows, latest data, state); its file and any problem below."""
    from .status import CADENCE_LABELS, STATE_LABELS

    rows, details = [], []
    for s in report.sources:
        rows.append([s.label, s.department, CADENCE_LABELS[s.cadence], (s.last_import_at or "—").replace("T", " "),
                     "—" if s.rows is None else f"{s.rows:,}", s.latest or "—", STATE_LABELS[s.state]])
        lines = [f"导入 {s.last_import}：{s.last_file}"] if s.last_file else []
        details.append([*lines, *([s.note] if s.note else [])])
    stale = sum(s.state in ("stale", "missing") for s in report.sources if s.cadence != "none")
    title = f"数据状态（截至 {report.as_of}）：{len(report.sources)} 类数据，{stale} 类缺失或过期"
    return record_list(title, ["数据", "部门", "报送周期", "最近导入", "记录数", "数据截至", "状态"], rows, details,
                       right={"记录数"})


def imports_table(records: Sequence[Any]) -> Text:
    """A line per import (time, who, counts, state); its file and its sheets below."""
    rows, details = [], []
    for r in records:
        state = f"已撤销（{r.undone_at.replace('T', ' ')}）" if r.undone_at else ("可撤销" if r.undoable else "不可撤销")
        rows.append([r.id, r.imported_at.replace("T", " "), r.user or "—", r.rows, r.imported, r.updated, r.unchanged,
                     r.ended, r.rejected, state])
        sheets = "；".join(f"「{s.sheet}」{s.label} {s.rows:,} 行" for s in r.sheets)
        details.append([r.file + (f"：{sheets}" if sheets else "")])
    counts = {"编号", "行数", "新增", "更新", "未变", "移出", "拒收"}
    return record_list(f"导入记录 {len(records)} 次", ["编号", "导入时间", "操作人", "行数", "新增", "更新", "未变", "移出", "拒收", "状态"],
                       rows, details, right=counts)


def undo_summary(result: Any) -> Text:
    lines = [f"已撤销导入 {result.import_id}（{result.file}）："]
    for label, n in result.removed.items():
        lines.append(f"  「{label}」删除这次新增的 {n:,} 条")
    for label, n in result.restored.items():
        lines.append(f"  「{label}」{n:,} 条恢复为导入前的内容")
    if result.ended_reversed:
        lines.append(f"  这次整表移出的 {result.ended_reversed:,} 条重新回到名单")
    if result.alerts_restored or result.outcomes_removed:
        lines.append(f"  这次走访表登记的 {result.outcomes_removed} 条结果已删除，{result.alerts_restored} 条预警恢复为导入前的状态")
    if result.withdrawn:
        shown = "、".join(map(str, result.withdrawn[:20])) + ("等" if len(result.withdrawn) > 20 else "")
        lines.append(f"  撤回预警 {len(result.withdrawn)} 条（编号 {shown}，办理历史中记为“撤回”）")
    if len(lines) == 1:
        lines.append("  这次导入没有改动任何记录")
    return Text(visible("\n".join(lines)))


def household_view(h: Any, sources: dict[str, Any]) -> list[Any]:
    """一户一档 for the console: the household, its members, then each source, the alerts and the visits.
    sources: the configured sources (their labels, and their fields' first header name as column titles)."""
    labels = {k: v.label for k, v in sources.items()}
    out: list[Any] = []
    place = " ".join(filter(None, [h.district, h.town, h.community, h.grid]))
    worker = f"网格员 {h.worker}" + (f"（{h.worker_phone}）" if h.worker_phone else "") if h.worker else "网格员（未分派）"
    out.append(Text(visible(f"一户一档：户号 {h.hukou_no}（截至 {h.as_of}）"), style="bold"))
    out.append(Text(visible(f"{place or '（没有社区、网格）'}　{worker}\n住址 {h.address or '—'}　家庭类别 {h.category}")))
    members = [[m.relation or "", m.name, m.id_no, m.sex, m.age,
                m.category + ("（随户）" if m.category_from == "随户" else f"（{m.roster_status}）" if m.roster_status else ""),
                "、".join(m.disability) or "—", m.died_on or "", "在册" if m.listed else "已移出"] for m in h.members]
    out.append(table(f"家庭成员 {len(h.members)} 人", ["关系", "姓名", "身份证号", "性别", "年龄", "类别", "残疾", "死亡日期", "户籍"],
                     members, justify_right={"年龄"}))
    medical = h.sources.get("medical", [])
    if medical:
        rows = [[m["month"], m["name"], m["settlements"], _money(m["total_cost"]), _money(m["fund_paid"]), _money(m["oop"])]
                for m in medical]
        total = sum(m["oop"] or 0 for m in medical)
        out.append(table(f"{labels.get('medical', 'medical')}：近 12 个月按月合计（个人自付共 {_money(total)} 元）",
                         ["月份", "姓名", "结算笔数", "总费用（元）", "统筹支付（元）", "个人自付（元）"], rows,
                         justify_right={"结算笔数", "总费用（元）", "统筹支付（元）", "个人自付（元）"}))
    contributions = h.sources.get("social_insurance", [])
    if contributions:
        rows = [[c["name"], c["id_no"], f"{c['paid_months']} / 12", _money(list(c["months"].values())[-1]),
                 "、".join(c["missing"]) or "—"] for c in contributions]
        out.append(table(f"{labels.get('social_insurance', 'social_insurance')}：近 12 个整月", ["姓名", "身份证号", "缴费月数", "最近基数（元）", "未缴月份"],
                         rows, justify_right={"最近基数（元）"}))
    for source, records in h.sources.items():
        if source in ("medical", "social_insurance") or not records:
            continue
        fields = sources[source].fields if source in sources else {}
        keys = [k for k in records[0] if k not in ("id_no", "file", "sheet", "row")]
        titles = ["在名单上" if k == "listed" else (fields[k].aliases[0] if k in fields and fields[k].aliases else k) for k in keys]
        rows = [[*(("是" if r[k] else "否") if k == "listed" else r[k] for k in keys), f"{r['file']}「{r['sheet']}」第 {r['row']} 行"]
                for r in records]
        out.append(table(f"{labels.get(source, source)} {len(records)} 条", [*titles, "来源"], rows, whole={"来源"}))
    if h.alerts:
        cells, details = [], []
        for a in h.alerts:
            cells.append([a["id"], a["name"], a["raised_on"], a["due_on"], STATUS_LABELS.get(a["status"], a["status"])])
            lines = [f"{a['rule_name']}（{a['severity']}）：{a['evidence']}"]
            lines += [f"{x['recorded_at'].replace('T', ' ')} {'重新打开' if x['action'] == 'reopen' else x['outcome']}"
                      f"{('（' + x['detail'] + '）') if x['detail'] else ''} {x['handler'] or ''} {x['origin']}" for x in a["history"]]
            refs = a.get("refs") or []
            if refs:
                first = refs[0]
                more = f" 等 {len(refs)} 条" if len(refs) > 1 else ""
                lines.append(f"来源：{first['file']}「{first['sheet']}」第 {first['row']} 行{more}")
            details.append(lines)
        out.append(record_list(f"预警 {len(h.alerts)} 条", ["编号", "姓名", "推送日期", "走访期限", "状态"], cells, details, right={"编号"}))
    else:
        out.append(Text("预警：无"))
    if h.visits:
        rows = [[v.get("visit_date"), v.get("outcome"), v.get("outcome_detail"), v.get("handler"), v.get("alert_ids"), v.get("note")]
                for v in h.visits]
        out.append(table(f"走访 {len(h.visits)} 次", ["走访日期", "结果", "类型/部门", "走访人", "预警编号", "备注"], rows))
    else:
        out.append(Text("走访：无"))
    return out


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def migrate_table(result: Any) -> Any:
    """relief migrate: a line per table (rows on both sides, checksum, whether they agree)."""
    rows = [[t.table, f"{t.rows:,}", f"{t.target_rows:,}", t.checksum[:16], "一致" if t.ok else "不一致"]
            for t in result.tables]
    verdict = (f"共 {len(result.tables)} 个表、{result.rows:,} 行，逐表校验一致" if result.ok
               else f"{sum(not t.ok for t in result.tables)} 个表校验不一致，迁移已全部撤回，目标数据库没有写入")
    return with_caption(table(f"迁移 {result.source} → {result.target}", ["表", "源行数", "目标行数", "SHA-256（前 16 位）", "校验"],
                              rows, justify_right={"源行数", "目标行数"}), verdict)
