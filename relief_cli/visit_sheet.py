"""The visit workbook of a community: what a grid worker carries to the door, and the sheet the
results are typed back into.

Per grid, three sheets:
- `网格·户清单`: the cover list, A4 landscape, about 20 households a page, the overdue and
  nearly due marked (in words as well as colour: most office printers print grey);
- `网格·走访记录表`: one A4 portrait page per household (入户走访记录表): the household and
  its members, each reason with its evidence and alert number, the 五问 each with its
  prompt and a box to write in, the outcome as tick boxes, date and signatures;
- `网格`: the entry sheet an officer types the returned results into. Its column titles
  are the `visits` source's aliases in rules.yaml, so it imports as visit results; the two
  printed sheets are recognised by their names and skipped by the import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from . import paper
from .checklist import DUE_SOON, OVERDUE, Checklist, GridList, Household
from .parse import COVER_SHEET_SUFFIX, FORM_SHEET_SUFFIX
from .xlsx import add_list_validation, fill_sheet, print_setup, save_private, set_text, sheet_title

FIXED_COLUMNS = ["序号", "户号", "户主", "住址", "救助类别", "走访原因", "详情", "走访期限", "预警编号", "走访日期"]
TAIL_COLUMNS = ["走访结果", "救助类型或转办部门", "走访人", "备注"]
TITLE_ROWS = 3
WIDTHS = {"序号": 5, "户号": 18, "户主": 8, "住址": 22, "救助类别": 9, "走访原因": 10, "详情": 40, "走访期限": 11,
          "预警编号": 9, "走访日期": 11, "走访结果": 12, "救助类型或转办部门": 14, "走访人": 8, "备注": 20}

# The cover list, landscape: column titles and widths in points (770 in all, the printable width).
COVER_COLUMNS = [("序号", 26), ("户号", 112), ("户主", 52), ("联系电话", 80), ("住址", 208), ("类别", 78),
                 ("走访原因", 96), ("走访期限", 66), ("提醒", 52)]
COVER_PER_PAGE = 20
COVER_TITLE_ROWS = 3
# The form, portrait: seven columns (523 points) that each part of the page spans differently.
FORM_WIDTHS = [56, 64, 120, 76, 40, 60, 107]
MEMBER_COLUMNS = ["姓名", "与户主关系", "身份证号", "救助类别", "年龄", "残疾", "备注"]
BOX_MIN_PT = 60.0  # a 五问 answer box: 2.1 cm, three handwritten lines
REASON_MAX_LINES = 4
MEMBERS_KEPT = 6
QUESTION_SPAN = 3  # the question and its prompt take the first three columns, the box the rest

URGENT_FILL = {OVERDUE: PatternFill("solid", fgColor="F8CBAD"), DUE_SOON: PatternFill("solid", fgColor="FFE699")}
SECTION_FILL = PatternFill("solid", fgColor="D9D9D9")


@dataclass
class VisitBook:
    households: int
    # Pages each grid prints on, as planned: cover list pages, then one per household.
    pages: dict[str, int] = field(default_factory=dict)


def header(checklist: Checklist) -> list[str]:
    return [*FIXED_COLUMNS, *(q.title for q in checklist.questions), *TAIL_COLUMNS]


def write_visit_workbook(path: Path, checklist: Checklist, outcomes: tuple[str, ...], *, entry: bool = True) -> VisitBook:
    """The workbook; without `entry`, only the printed sheets (what --pdf converts)."""
    wb, book = build_visit_workbook(checklist, outcomes, entry=entry)
    save_private(wb, path)
    return book


def build_visit_workbook(checklist: Checklist, outcomes: tuple[str, ...], *, entry: bool = True) -> tuple[Workbook, VisitBook]:
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    book = VisitBook(0)
    for gl in checklist.grids:
        cover_pages = _cover_sheet(wb.create_sheet(sheet_title(gl.grid[:31 - len(COVER_SHEET_SUFFIX)] + COVER_SHEET_SUFFIX, taken)),
                                   checklist, gl)
        if gl.households:  # a grid with no one to visit has its cover page, saying so, and no forms
            forms = wb.create_sheet(sheet_title(gl.grid[:31 - len(FORM_SHEET_SUFFIX)] + FORM_SHEET_SUFFIX, taken))
            _form_sheet(forms, checklist, gl, outcomes)
        book.pages[gl.grid] = cover_pages + len(gl.households)
        book.households += len(gl.households)
    if entry:
        for gl in checklist.grids:
            _entry_sheet(wb.create_sheet(sheet_title(gl.grid, taken)), checklist, gl, outcomes)
    if not wb.sheetnames:
        wb.create_sheet("无待走访")
    return wb, book


def _grid(checklist: Checklist, gl: GridList) -> str:
    """The community and grid, once: grids are often named after their community (金口岭社区第1网格)."""
    return gl.grid if gl.grid.startswith(checklist.community) else f"{checklist.community} {gl.grid}"


def _worker(gl: GridList) -> str:
    return f"网格员：{gl.worker or '（未分派）'}" + (f"　电话：{gl.worker_phone}" if gl.worker_phone else "")


def _footer(checklist: Checklist, gl: GridList) -> str:
    return f"{_grid(checklist, gl)}，{_worker(gl).replace('　', '，')}"


# --- The cover list ----------------------------------------------------------------------------


def _cover_sheet(ws: Any, checklist: Checklist, gl: GridList) -> int:
    """The grid's households, about 20 a page; returns the number of pages."""
    widths = [w for _, w in COVER_COLUMNS]
    paper.set_columns(ws, widths)
    n = len(COVER_COLUMNS)
    paper.put(ws, 1, 1, f"{_grid(checklist, gl)} 三必访走访户清单（截至 {checklist.as_of}，共 {len(gl.households)} 户）",
              size=paper.TITLE_PT, bold=True, span=n, align="center", border=False)
    ws.row_dimensions[1].height = paper.row_height(1, paper.TITLE_PT)
    legend = f"{_worker(gl)}　　“{OVERDUE}”（红底）：已过走访期限；“{DUE_SOON}”（黄底）：临近走访期限，请优先走访"
    paper.put(ws, 2, 1, legend, span=n, border=False)
    ws.row_dimensions[2].height = paper.row_height(paper.line_count(legend, sum(widths)))
    for j, (title, _) in enumerate(COVER_COLUMNS, start=1):
        paper.put(ws, 3, j, title, bold=True, align="center", fill=SECTION_FILL)
    ws.row_dimensions[3].height = paper.row_height(1)
    _, page_h = paper.printable(landscape=True)
    room = page_h - sum(ws.row_dimensions[r].height for r in range(1, COVER_TITLE_ROWS + 1))
    row, used, on_page, pages = COVER_TITLE_ROWS + 1, 0.0, 0, 1
    for i, hh in enumerate(gl.households, start=1):
        reasons = "、".join(dict.fromkeys(r.kind for r in hh.reasons))
        cells = [i, hh.hukou_no, hh.head_name, hh.phone, hh.address, hh.category, reasons, hh.due_on, hh.urgency]
        lines = max(paper.line_count(None if v is None else str(v), w) for v, w in zip(cells, widths))
        height = paper.row_height(lines)
        if on_page and (on_page == COVER_PER_PAGE or used + height > room):
            paper.break_after(ws, row - 1)
            pages, used, on_page = pages + 1, 0.0, 0
        fill = URGENT_FILL.get(hh.urgency or "")
        for j, value in enumerate(cells, start=1):
            paper.put(ws, row, j, value, align="center" if j in (1, 3, 6, 9) else "left", fill=fill)
        if hh.urgency:
            ws.cell(row=row, column=n).font = Font(name=paper.FONT_NAME, size=paper.BODY_PT, bold=True)
        ws.row_dimensions[row].height = height
        used, on_page, row = used + height, on_page + 1, row + 1
    if not gl.households:
        paper.put(ws, row, 1, "本网格暂无需要走访的户", span=n)
        row += 1
    paper.page_setup(ws, landscape=True, footer_left=_footer(checklist, gl), title_rows=COVER_TITLE_ROWS)
    paper.print_area(ws, n, row - 1)
    return pages


# --- The visit form, one page per household ---------------------------------------------------


def _form_sheet(ws: Any, checklist: Checklist, gl: GridList, outcomes: tuple[str, ...]) -> None:
    paper.set_columns(ws, FORM_WIDTHS)
    row = 1
    for hh in gl.households:
        row = _form(ws, row, checklist, gl, hh, outcomes)
        paper.break_after(ws, row - 1)
    paper.page_setup(ws, landscape=False, footer_left=_footer(checklist, gl))
    paper.print_area(ws, len(FORM_WIDTHS), row - 1)


def _form(ws: Any, top: int, checklist: Checklist, gl: GridList, hh: Household, outcomes: tuple[str, ...]) -> int:
    """One household's page from row `top`; returns the row after it."""
    cols = len(FORM_WIDTHS)
    parts = _form_parts(checklist, gl, hh, outcomes)
    _, page_h = paper.printable()
    parts = _fit(parts, page_h)
    row = top
    for kind, payload, height in parts:
        if kind == "title":
            paper.put(ws, row, 1, payload, size=paper.TITLE_PT, bold=True, span=cols, align="center", border=False)
        elif kind == "line":
            paper.put(ws, row, 1, payload, span=cols, border=False)
        elif kind == "field":
            paper.put(ws, row, 1, payload, span=cols)
        elif kind == "section":
            paper.put(ws, row, 1, payload, bold=True, span=cols, fill=SECTION_FILL)
        elif kind == "member_head":
            for j, title in enumerate(MEMBER_COLUMNS, start=1):
                paper.put(ws, row, j, title, bold=True, align="center")
        elif kind == "member":
            for j, value in enumerate(payload, start=1):
                paper.put(ws, row, j, value, align="center" if j in (2, 4, 5, 6) else "left")
        elif kind == "reason":
            paper.put(ws, row, 1, _reason_text(*payload), span=cols)
        elif kind == "question":
            paper.put(ws, row, 1, payload, span=QUESTION_SPAN, vertical="top")
            paper.put(ws, row, QUESTION_SPAN + 1, None, span=cols - QUESTION_SPAN)
        ws.row_dimensions[row].height = height
        row += 1
    return row


Part = tuple[str, Any, float]


def _form_parts(checklist: Checklist, gl: GridList, hh: Household, outcomes: tuple[str, ...]) -> list[Part]:
    """The page as a list of rows (kind, content, height in points), before fitting."""
    full = sum(FORM_WIDTHS)
    h = paper.row_height
    parts: list[Part] = [("title", "入户走访记录表", h(1, paper.TITLE_PT))]

    def line(kind: str, text: str) -> None:
        parts.append((kind, text, h(paper.line_count(text, full))))

    line("line", f"{_grid(checklist, gl)}　{_worker(gl)}　走访期限：{hh.due_on or '—'}"
                 + (f"（{hh.urgency}）" if hh.urgency else ""))
    line("field", f"户号：{hh.hukou_no}　　户主：{hh.head_name or '—'}　　联系电话：{hh.phone or '—'}　　救助类别：{hh.category}")
    line("field", f"住址：{hh.address or '—'}")
    parts.append(("section", "家庭成员", h(1)))
    parts.append(("member_head", None, h(1)))
    if not hh.members:
        line("field", "（户籍人口数据中没有这一户的成员）")
    for m in hh.members:
        note = f"{m.died_on} 死亡" if m.died_on else ""
        cells = [m.name, m.relation, m.id_no, m.category or "—", m.age, m.disability or "—", note]
        lines = max(paper.line_count(None if v is None else str(v), w) for v, w in zip(cells, FORM_WIDTHS))
        parts.append(("member", cells, h(lines)))
    parts.append(("section", "走访原因及依据", h(1)))
    for r in hh.reasons:
        payload = (r.kind, r.detail, r.alert_id)
        parts.append(("reason", payload, h(paper.line_count(_reason_text(*payload), full))))
    parts.append(("section", "五问（逐项询问，把情况写在右边的框里）", h(1)))
    ask_w = sum(FORM_WIDTHS[:QUESTION_SPAN])
    for i, q in enumerate(hh.questions or checklist.questions, start=1):
        text = f"{i}. {q.title}\n{q.prompt}"
        parts.append(("question", text, max(BOX_MIN_PT, h(paper.line_count(text, ask_w)))))
    line("field", "走访结果（打 √）：" + "　".join(f"□ {o}" for o in outcomes))
    parts.append(("field", "救助类型或转办部门：", h(1) + 8))
    parts.append(("field", "走访日期：　　　　年　　月　　日　　　走访人签字：　　　　　　　　户主（或家庭成员）签字：", h(2)))
    return parts


def _fit(parts: list[Part], room: float) -> list[Part]:
    """A form taller than the page is made to fit, step by step until it does: reasons cut to four
    lines, prompts cut to what their answer box holds, reasons cut to two lines, members past the
    sixth summed up in one line (the whole household is in relief household), reasons cut to one
    line, members past the head summed up. The answer boxes keep their height, being what the
    page is for; a reason keeps its alert number."""
    def total() -> float:
        return sum(p[2] for p in parts)

    full, ask_w = sum(FORM_WIDTHS), sum(FORM_WIDTHS[:QUESTION_SPAN])
    box_lines = int((BOX_MIN_PT - paper.CELL_PAD_PT) // (paper.BODY_PT * paper.LINE_FACTOR))

    whole = [p[1] for p in parts if p[0] == "reason"]  # before any cut; reasons keep their order

    def cut(payload: tuple[str, str, int | None], lines: int) -> tuple[str, str, int | None]:
        reason, detail, alert = payload
        if paper.line_count(_reason_text(*payload), full) <= lines:
            return payload
        while detail and paper.line_count(_reason_text(reason, detail + "…", alert), full) > lines:
            detail = detail[:-1]
        return reason, detail + "…", alert

    def clip_reasons(lines: int) -> None:
        for i, (kind, payload, height) in enumerate(parts):
            if kind == "reason" and height > paper.row_height(lines):
                parts[i] = (kind, cut(payload, lines), paper.row_height(lines))

    def regrow() -> None:
        """Room left after the cuts goes back to the reasons, first ones first, a line at a time."""
        for lines in (2, 3, REASON_MAX_LINES):
            reasons = [i for i, p in enumerate(parts) if p[0] == "reason"]
            for i, original in zip(reasons, whole):
                kind, payload, height = parts[i]
                if height >= paper.row_height(lines):
                    continue
                longer = cut(original, lines)
                taller = paper.row_height(paper.line_count(_reason_text(*longer), full))
                if taller > height and total() - height + taller <= room:
                    parts[i] = (kind, longer, taller)

    def clip_prompts() -> None:
        for i, (kind, payload, height) in enumerate(parts):
            if kind == "question" and height > BOX_MIN_PT:
                title, prompt = payload.split("\n", 1)
                parts[i] = (kind, f"{title}\n{_clip(prompt, ask_w, box_lines - 1)}", BOX_MIN_PT)

    def drop_members(keep: int) -> None:
        members = [i for i, p in enumerate(parts) if p[0] == "member"]
        dropped = 0
        while total() > room and len(members) > keep:
            parts.pop(members.pop())
            dropped += 1
            summary = ("field", f"另有 {dropped} 名成员未列出，详见 relief household 一户一档", paper.row_height(1))
            if dropped == 1:
                parts.insert(members[-1] + 1, summary)
            else:
                parts[members[-1] + 1] = summary

    steps = (lambda: clip_reasons(REASON_MAX_LINES), clip_prompts, lambda: clip_reasons(2), lambda: drop_members(MEMBERS_KEPT),
             lambda: clip_reasons(1), lambda: drop_members(1))
    for step in steps:
        if total() <= room:
            break
        step()
    regrow()
    return parts


def _reason_text(kind: str, detail: str, alert_id: int | None) -> str:
    return f"【{kind}】{detail}" + (f"（预警编号 {alert_id}）" if alert_id else "")


def _clip(text: str, width: float, lines: int) -> str:
    """The text cut to fit `lines` lines of the given width, marked with …"""
    if paper.line_count(text, width) <= lines:
        return text
    while text and paper.line_count(text + "…", width) > lines:
        text = text[:-1]
    return text + "…"


# --- The entry sheet ------------------------------------------------------------------------------


def _entry_sheet(ws: Any, checklist: Checklist, gl: GridList, outcomes: tuple[str, ...]) -> None:
    titles = header(checklist)
    set_text(ws.cell(row=1, column=1), f"{checklist.community} {gl.grid} 走访结果录入表（截至 {checklist.as_of}）　{_worker(gl)}")
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    set_text(ws.cell(row=2, column=1), "网格员交回走访记录表后，在此逐户填写走访日期、走访结果等，保存后用 relief import 导入即登记；"
                                       "没有走访的户留空即可。")
    ws.cell(row=2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(titles))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(titles))
    ws.row_dimensions[2].height = 30
    rows = list(_entry_rows(gl, len(checklist.questions)))
    fill_sheet(ws, titles, rows, first_row=TITLE_ROWS)
    for j, title in enumerate(titles, start=1):
        ws.column_dimensions[ws.cell(row=TITLE_ROWS, column=j).column_letter].width = WIDTHS.get(title, 16)
    for r in range(TITLE_ROWS + 1, TITLE_ROWS + 1 + len(rows)):
        for c in range(1, len(titles) + 1):
            ws.cell(row=r, column=c).alignment = Alignment(wrap_text=True, vertical="top")
    add_list_validation(ws, titles.index("走访结果") + 1, TITLE_ROWS + 1, TITLE_ROWS + max(len(rows), 1), outcomes)
    print_setup(ws, TITLE_ROWS, len(titles))


def _entry_rows(gl: GridList, questions: int) -> Any:
    for i, hh in enumerate(gl.households, start=1):
        kinds = "、".join(dict.fromkeys(r.kind for r in hh.reasons))
        details = "\n".join(r.detail for r in hh.reasons)
        alert_ids = "、".join(str(r.alert_id) for r in hh.reasons if r.alert_id)
        yield [i, hh.hukou_no, hh.head_name, hh.address, hh.category, kinds, details, hh.due_on, alert_ids, None,
               *([None] * questions), None, None, None, None]


# --- Many communities at once ------------------------------------------------------------------

UNSAFE_IN_NAMES = set('\\/:*?"<>|')


@dataclass
class BatchFile:
    path: str
    town: str | None
    community: str
    worker: str | None
    grids: int
    households: int
    pages: int


@dataclass
class BatchResult:
    as_of: str
    communities: int = 0
    grids: int = 0
    households: int = 0
    empty: list[str] = field(default_factory=list)  # communities with no one to visit: no file
    files: list[BatchFile] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def file_part(text: str | None) -> str:
    """A piece of a file name that Windows accepts: no \\/:*?"<>| or control characters, no trailing dot."""
    clean = "".join("_" if ch in UNSAFE_IN_NAMES or not ch.isprintable() else ch for ch in (text or "未分派"))
    return clean.strip(" .")[:40] or "未分派"


def collect_batch(store: Any, as_of: Any, *, district: str | None = None, town: str | None = None,
                  masker: Any = None) -> tuple[BatchResult, list[Checklist]]:
    """Every community's checklist (in the district or town), with the totals, before anything is
    written: the export is audited first, and an audit that cannot be written stops it."""
    from .checklist import all_checklists
    from .privacy import Masker

    result, lists = BatchResult(as_of.isoformat()), []
    for cl in all_checklists(store, as_of, district=district, town=town, masker=masker or Masker()):
        result.communities += 1
        result.grids += len(cl.grids)
        households = sum(len(g.households) for g in cl.grids)
        result.households += households
        if households:
            lists.append(cl)
        else:
            result.empty.append(cl.community)
    return result, lists


POOL_FROM_FILES = 4  # fewer workbooks than this are written in the process itself
BATCH_WORKERS = 2


def write_batch(result: BatchResult, lists: list[Checklist], out_dir: Path, outcomes: tuple[str, ...], *,
                by_worker: bool = False) -> BatchResult:
    """One workbook per community (乡镇-社区-走访清单-日期.xlsx), or per grid worker
    (乡镇-社区-网格员-走访清单-日期.xlsx); communities with no household to visit get no file.
    Many workbooks are written by two worker processes (openpyxl is pure Python: one core each)."""
    from dataclasses import replace

    jobs: list[tuple[Path, Checklist, str | None]] = []
    for cl in lists:
        if by_worker:
            workers: dict[str | None, list[GridList]] = {}
            for g in cl.grids:
                if g.households:
                    workers.setdefault(g.worker, []).append(g)
            parts = [(worker, replace(cl, grids=grids)) for worker, grids in workers.items()]
        else:
            parts = [(None, cl)]
        for worker, part in parts:
            name = "-".join([file_part(cl.town), file_part(cl.community), *([file_part(worker)] if by_worker else []),
                             "走访清单", cl.as_of]) + ".xlsx"
            jobs.append((out_dir / name, part, worker))
    if len(jobs) < POOL_FROM_FILES:
        books = [write_visit_workbook(path, part, outcomes) for path, part, _ in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from .importer import START_METHOD

        with ProcessPoolExecutor(BATCH_WORKERS, mp_context=multiprocessing.get_context(START_METHOD)) as pool:
            books = list(pool.map(_write_one, [(path, part, outcomes) for path, part, _ in jobs], chunksize=4))
    for (path, part, worker), book in zip(jobs, books):
        result.files.append(BatchFile(str(path), part.town, part.community, worker, len(part.grids), book.households,
                                      sum(book.pages.values())))
    return result


def _write_one(job: tuple[Path, Checklist, tuple[str, ...]]) -> VisitBook:
    path, checklist, outcomes = job
    return write_visit_workbook(path, checklist, outcomes)
