"""relief import: departmental exports into the store, one transaction per file.

Each sheet's source is recognised from its header row; each cell is normalised
by its field type; a row that cannot be used is kept, with its original cells
and a Chinese reason, in a rejects workbook beside the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config, SourceSpec
from .reader import SUPPORTED_SUFFIXES, FileProblem, Sheet, column_letter, open_file
from .store import Store
from .values import (
    ValueProblem,
    is_blank,
    normalize_header,
    normalize_id,
    normalize_phone,
    normalize_text,
    parse_amount,
    parse_date,
    parse_grade,
    parse_period,
)
from .xlsx import SheetSpec, write_workbook

HEADER_SEARCH_ROWS = 30
CHUNK_ROWS = 20_000
TOTAL_MARKERS = ("合计", "总计", "小计")
FOOTER_MARKERS = ("制表", "审核", "填表", "注：", "注:", "说明：", "说明:")
Progress = Callable[[str, str, int], None]
MAX_REJECT_CELLS = 16_384 - 3


@dataclass
class SheetResult:
    file: str
    sheet: str
    source: str | None
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    skipped_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileFailure:
    file: str
    reason: str


@dataclass
class ImportReport:
    sheets: list[SheetResult] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)


@dataclass
class Reject:
    sheet: str
    row: int
    cells: list[Any]
    reason: str


@dataclass(frozen=True)
class Header:
    row: int  # index into the sheet's rows
    source: str
    columns: dict[int, str]  # row position -> field
    titles: list[str]



def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[FileFailure]]:
    """Files as given; folders searched recursively for supported files, in name order."""
    files: list[Path] = []
    missing: list[FileFailure] = []
    for p in paths:
        if p.is_dir():
            files.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and not f.name.startswith(("~$", "."))
                )
            )
        elif p.is_file():
            files.append(p)
        else:
            missing.append(FileFailure(str(p), "文件或文件夹不存在"))
    return files, missing


def import_paths(
    store: Store,
    paths: Sequence[Path],
    *,
    source: str | None = None,
    rejects_dir: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    config = store.config
    if source is not None and source not in config.sources:
        raise ValueError(f"未知的数据来源 {source}，可选：{', '.join(config.sources)}")
    files, failures = expand_paths(paths)
    report = ImportReport(failures=failures)
    rejects_dir = rejects_dir or default_rejects_dir(store.path)
    for path in files:
        try:
            results = import_file(store, path, source=source, rejects_dir=rejects_dir, progress=progress)
        except FileProblem as e:
            report.failures.append(FileFailure(str(path), e.reason))
            continue
        report.sheets.extend(results)
    return report


def default_rejects_dir(db_path: Path) -> Path:
    return db_path.parent / f"{db_path.stem}-rejects"


def import_file(
    store: Store,
    path: Path,
    *,
    source: str | None = None,
    rejects_dir: Path,
    progress: Progress | None = None,
) -> list[SheetResult]:
    """Import one file in one transaction; FileProblem leaves the database untouched."""
    sheets = open_file(path)
    digest = _sha256(path)
    results: list[SheetResult] = []
    rejects: list[tuple[Header, Reject]] = []
    with store.transaction():
        import_id = store.start_import(path.name, str(path), digest)
        seen_keys: dict[str, dict[str, tuple[str, int]]] = {}
        for sheet in sheets:
            result = SheetResult(file=str(path), sheet=sheet.name, source=None)
            results.append(result)
            if sheet.hidden:
                result.skipped_reason = "隐藏工作表，已跳过"
                continue
            rows = sheet.rows()
            header = _find_header(rows, store.config, source)
            if isinstance(header, str):
                result.skipped_reason = header
                continue
            result.source = header.source
            spec = store.config.sources[header.source]
            sheet_rejects = _load_sheet(
                store, sheet, rows, header, spec, result, import_id, path.name,
                seen_keys.setdefault(header.source, {}), progress,
            )
            rejects.extend((header, r) for r in sheet_rejects)
        totals = {k: sum(getattr(r, k) for r in results) for k in ("rows", "imported", "updated", "unchanged", "rejected")}
        store.finish_import(import_id, [r.as_dict() for r in results], totals)
    if rejects:
        out = _write_rejects(rejects_dir, path, rejects)
        for r in results:
            if r.rejected:
                r.rejects_file = str(out)
    return results


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _find_header(rows: Iterator[list[Any]], config: Config, forced: str | None) -> Header | str:
    """The first row (within the top rows) that holds every required column of a source."""
    candidates = {forced: config.sources[forced]} if forced else config.sources
    maps = {name: spec.header_map() for name, spec in candidates.items()}
    best_partial: tuple[int, str, list[str]] | None = None
    for index, row in enumerate(rows):
        if index >= HEADER_SEARCH_ROWS:
            break
        titles = [normalize_header(c) for c in row]
        if not any(titles):
            continue
        found: list[tuple[int, float, str, dict[int, str]]] = []
        for name, spec in candidates.items():
            columns: dict[int, str] = {}
            for j, title in enumerate(titles):
                fname = maps[name].get(title)
                if fname and fname not in columns.values():
                    columns[j] = fname
            missing = [f for f in spec.required if f not in columns.values()]
            if not missing:
                found.append((len(columns), len(columns) / len(spec.fields), name, columns))
            elif columns and (best_partial is None or len(columns) > best_partial[0]):
                best_partial = (len(columns), name, missing)
        if found:
            _, _, name, columns = max(found, key=lambda c: (c[0], c[1]))
            return Header(row=index, source=name, columns=columns, titles=[str(c) if c is not None else "" for c in row])
    if forced:
        spec = config.sources[forced]
        return f"指定的来源 {forced}（{spec.label}）在前 {HEADER_SEARCH_ROWS} 行中找不到完整表头，缺少必填列"
    if best_partial:
        _, name, missing = best_partial
        spec = config.sources[name]
        labels = "、".join(_field_label(spec, f) for f in missing)
        return f"未识别出数据来源：最接近「{spec.label}」，但缺少必填列 {labels}"
    return "未识别出数据来源：表头与任何来源的列名都不匹配"


def _field_label(spec: SourceSpec, field_name: str) -> str:
    aliases = spec.fields[field_name].aliases
    return aliases[0] if aliases else field_name


def _converter(ftype: str, config: Config) -> Callable[[Any], Any]:
    if ftype == "id":
        return normalize_id
    if ftype == "phone":
        return normalize_phone
    if ftype in ("text", "name"):
        return normalize_text
    if ftype == "date":
        return lambda v: parse_date(v).isoformat()
    if ftype == "period":
        return parse_period
    if ftype == "amount":
        return parse_amount
    if ftype == "grade":
        return parse_grade
    if ftype == "int":
        return _parse_int
    if ftype == "category":
        lookup = config.category_lookup

        def category(v: Any) -> str:
            text = normalize_text(v) or ""
            try:
                return lookup[normalize_header(text)]
            except KeyError:
                raise ValueProblem(f"未知的救助类别「{text}」，可在 rules.yaml 的 categories 中添加别名") from None

        return category
    raise ValueError(ftype)


def _parse_int(v: Any) -> int:
    try:
        number = float(str(v).strip().replace(",", ""))
    except ValueError:
        raise ValueProblem("应为整数") from None
    if not number.is_integer():
        raise ValueProblem("应为整数")
    return int(number)


def _is_total_or_footer(row: list[Any]) -> bool:
    cells = [c for c in row if not is_blank(c)]
    if not cells:
        return False
    first = normalize_header(cells[0])
    if first.startswith(TOTAL_MARKERS):
        return True
    return len(cells) <= 2 and first.startswith(FOOTER_MARKERS)


def _load_sheet(
    store: Store,
    sheet: Sheet,
    rows: Iterator[list[Any]],
    header: Header,
    spec: SourceSpec,
    result: SheetResult,
    import_id: int,
    file_name: str,
    seen: dict[str, tuple[str, int]],
    progress: Progress | None,
) -> list[Reject]:
    fields = list(spec.fields)
    position = {f: j for j, f in header.columns.items()}
    first_col = sheet.first_col()
    plan = []
    for f in fields:
        fspec = spec.fields[f]
        j = position.get(f)
        title = header.titles[j] if j is not None else f
        where = f"「{title}」列（{column_letter(first_col + j)}列）：" if j is not None else ""
        plan.append((j, fspec.type, fspec.required, _converter(fspec.type, store.config), where))
    key_index = [fields.index(k) for k in spec.key]
    filled_index = [position[f] for f in spec.filled_when if f in position]
    row_check = ROW_CHECKS.get(header.source)
    rejects: list[Reject] = []
    chunk: list[tuple] = []
    row_number = header.row + 1
    for row in rows:
        row_number += 1
        if not any(not is_blank(c) for c in row) or _is_total_or_footer(row):
            continue
        if filled_index and all(j >= len(row) or is_blank(row[j]) for j in filled_index):
            continue
        result.rows += 1
        values: list[Any] = []
        problems: list[str] = []
        width = len(row)
        for j, ftype, required, convert, where in plan:
            cell = row[j] if j is not None and j < width else None
            if is_blank(cell):
                if ftype == "amount":
                    values.append(0)
                else:
                    if required:
                        problems.append(f"{where}必填项为空")
                    values.append(None)
                continue
            try:
                values.append(convert(cell))
            except ValueProblem as e:
                problems.append(f"{where}{e.reason}")
                values.append(None)
        if not problems and row_check is not None:
            problem = row_check(store, dict(zip(fields, values)))
            if problem:
                problems.append(problem)
        if not problems:
            key = "|".join("" if values[i] is None else str(values[i]) for i in key_index)
            earlier = seen.get(key)
            if earlier is not None:
                problems.append(f"与工作表「{earlier[0]}」第 {earlier[1]} 行的自然键（{'+'.join(spec.key)}）重复")
            else:
                seen[key] = (sheet.name, row_number)
                chunk.append((*values, key, file_name, sheet.name, row_number, import_id))
        if problems:
            rejects.append(Reject(sheet.name, row_number, list(row), "；".join(problems)))
        if len(chunk) >= CHUNK_ROWS:
            store.stage_rows(header.source, fields, chunk)
            chunk = []
            if progress:
                progress(file_name, sheet.name, result.rows)
    if chunk:
        store.stage_rows(header.source, fields, chunk)
    if progress:
        progress(file_name, sheet.name, result.rows)
    counts = store.merge_stage(header.source, fields)
    if header.source in AFTER_MERGE:
        AFTER_MERGE[header.source](store, import_id, file_name)
    result.imported, result.updated, result.unchanged = counts.imported, counts.updated, counts.unchanged
    result.rejected = len(rejects)
    return rejects


def _check_visit(store: Store, row: dict[str, Any]) -> str | None:
    """A returned visit row must name a fixed outcome (with its detail) and existing alerts."""
    from .followup import Outcome, OutcomeProblem, check_outcome, parse_alert_ids, unknown_alerts

    ids = parse_alert_ids(row.get("alert_ids"))
    unknown = unknown_alerts(store, ids)
    if unknown:
        return f"「预警编号」列：预警编号不存在：{'、'.join(map(str, unknown))}"
    if row.get("outcome"):
        try:
            check_outcome(store, Outcome(row["outcome"], dt.date.fromisoformat(row["visit_date"]),
                                         row.get("handler") or "", row.get("outcome_detail"), row.get("note")))
        except OutcomeProblem as e:
            return f"「走访结果」列：{e}"
    return None


def _apply_visits(store: Store, import_id: int, file_name: str) -> None:
    from .followup import apply_visit_rows

    apply_visit_rows(store, import_id, file_name)


# The returned visit sheet is data like any other, plus two steps of its own.
ROW_CHECKS: dict[str, Callable[[Store, dict[str, Any]], str | None]] = {"visits": _check_visit}
AFTER_MERGE: dict[str, Callable[[Store, int, str], None]] = {"visits": _apply_visits}


def _write_rejects(rejects_dir: Path, path: Path, rejects: list[tuple[Header, Reject]]) -> Path:
    """One workbook per imported file, one sheet per source sheet, original cells + reason.

    The header row is the original one, so the fixed workbook imports again as is.
    """
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = rejects_dir / f"{path.stem}-拒收-{stamp}.xlsx"
    by_sheet: dict[str, tuple[Header, list[Reject]]] = {}
    for header, reject in rejects:
        by_sheet.setdefault(reject.sheet, (header, []))[1].append(reject)
    specs = []
    for sheet_name, (header, items) in by_sheet.items():
        # Excel has 16,384 columns; the three columns we add must fit beside the original cells.
        width = min(MAX_REJECT_CELLS, max([len(header.titles), *(len(r.cells) for r in items)]))
        for r in items:
            del r.cells[width:]
        titles = header.titles[:width] + [""] * (width - len(header.titles))
        specs.append(
            SheetSpec(
                title=sheet_name,
                header=[*titles, "拒收原因", "原工作表", "原行号"],
                rows=([*_plain(r.cells), *[""] * (width - len(r.cells)), r.reason, r.sheet, r.row] for r in items),
            )
        )
    rejects_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_workbook(out, specs)
    return out


def _plain(cells: list[Any]) -> list[Any]:
    """Cells as they can be written back: dates and times become text."""
    out = []
    for c in cells:
        if isinstance(c, (dt.date, dt.datetime, dt.time, dt.timedelta)):
            out.append(str(c))
        else:
            out.append(c)
    return out
