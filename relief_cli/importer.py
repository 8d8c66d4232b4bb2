"""relief import: departmental exports into the store, one transaction per file.

Files are parsed in worker processes (parse.py) while this process writes: a worker
reads and normalises one file and streams chunks of rows back; the writer merges
each chunk by natural key inside the file's transaction. Two workers keep both
cores busy; the last file, when it is parsed alone, is only read by its worker and
normalised here, so the writer does not sit waiting. A worker that crashes or runs
out of its memory cap on a hostile file takes only that file down. Rejected rows are kept, with their original cells
and a Chinese reason, in a rejects workbook beside the database.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import gc
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config
from .parse import REJECT_COLUMNS, FileParse, Header, RawRows, Reject, Rows, SheetEnd, SheetParser, SheetStart, parse_file
from .privacy import SPILL_PREFIX, private_open, process_alive
from .reader import FOLDER_SUFFIXES, FileProblem
from .store import ListOutOfOrder, ShrinkRefused, Store, StoreBusy, StoreError

Progress = Callable[[str, str, int], None]
MAX_REJECT_CELLS = 16_384 - 3
WORKERS = max(1, min(2, os.cpu_count() or 1))
FRAME = struct.Struct("<Q")
# A worker may use this much address space on top of what it inherits: a hostile file
# asking calamine for hundreds of GB then fails inside the worker, not on the machine.
WORKER_EXTRA_MEMORY = 3 << 30
# fork starts a worker in milliseconds; spawn (the only method on Windows) re-imports relief in each
# worker, about 0.3 s a file. Both run the same code: the Windows simulation of the test suite runs
# every import under spawn.
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
CRASHED = "读取文件时程序异常退出（文件可能已损坏，或内容超出可处理的范围），该文件未导入"


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
    blanked: int = 0  # rows imported with an unreadable cell left blank (listed in the rejects workbook)
    ended: int = 0  # entries of a full list that this newer list no longer names (移出)
    import_id: int | None = None  # for relief rejects
    rejects_file: str | None = None
    skipped_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileFailure:
    file: str
    reason: str
    imported: bool = False  # the data went in; something after the commit (the rejects workbook) failed


@dataclass
class ImportReport:
    sheets: list[SheetResult] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[FileFailure], list[SheetResult]]:
    """Files as given; folders searched recursively for spreadsheets, in name order.

    What else a folder holds (documents, pictures, Excel's ~$ lock files, Thumbs.db, notes in
    .txt) is listed as skipped, with the reason, so nothing is left out silently."""
    files: list[Path] = []
    missing: list[FileFailure] = []
    skipped: list[SheetResult] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(f for f in p.rglob("*") if f.is_file()):
                reason = _not_a_spreadsheet(f)
                if reason:
                    skipped.append(SheetResult(str(f), "", None, skipped_reason=reason))
                else:
                    files.append(f)
        elif p.is_file():
            files.append(p)
        else:
            missing.append(FileFailure(str(p), "文件或文件夹不存在"))
    return files, missing, skipped


def _not_a_spreadsheet(path: Path) -> str | None:
    name = path.name.lower()
    if name.startswith("~$"):
        return "Excel/WPS 打开文件时留下的临时文件，已跳过"
    if name in ("thumbs.db", "desktop.ini", ".ds_store"):
        return "系统文件，已跳过"
    if name.startswith("."):
        return "隐藏文件，已跳过"
    if path.suffix.lower() not in FOLDER_SUFFIXES:
        return f"不是表格文件（{path.suffix or '无扩展名'}），已跳过"
    return None


def default_rejects_dir(db_path: Path) -> Path:
    return db_path.parent / f"{db_path.stem}-rejects"


def import_paths(
    store: Store,
    paths: Sequence[Path],
    *,
    source: str | None = None,
    rejects_dir: Path | None = None,
    progress: Progress | None = None,
    workers: int = WORKERS,
    parse: Callable[..., Iterator[Any]] = parse_file,
    as_of: dt.date | None = None,
    allow_shrink: bool = False,
    partial: bool = False,
) -> ImportReport:
    """as_of: the date of the lists (a full list ends, from that day, the entries it no longer names);
    allow_shrink: accept a full list that ends more than its max_shrink share;
    partial: the files only add to full lists (a supplement), and end nobody.
    parse: what a worker runs on each file (a module-level function, so spawn can send it)."""
    config = store.config
    if source is not None and source not in config.sources:
        raise ValueError(f"未知的数据来源 {source}，可选：{', '.join(config.sources)}")
    files, failures, skipped = expand_paths(paths)
    report = ImportReport(failures=failures)
    rejects_dir = rejects_dir or default_rejects_dir(store.path)
    collecting = gc.isenabled()
    gc.disable()  # see _parse_worker: the writer also handles millions of short-lived tuples
    try:
        with ParsePool(files, config, source, workers, parse) as pool:
            locked: str | None = None
            for path, messages in pool:
                if locked:  # one wait for the lock is enough; the other files fail at once, told why
                    messages.close()
                    report.failures.append(FileFailure(str(path), locked))
                    continue
                try:
                    sheets = write_file(store, path, messages, progress, as_of, allow_shrink, partial)
                except FileProblem as e:
                    report.failures.append(FileFailure(str(path), e.reason))
                    continue
                except StoreError as e:  # the database was locked by another import, for instance
                    report.failures.append(FileFailure(str(path), str(e)))
                    locked = str(e) if isinstance(e, StoreBusy) else None
                    continue
                except Exception as e:  # one file's failure is that file's alone; the message may quote a cell
                    if os.environ.get("RELIEF_DEBUG_SQL"):  # developers only
                        raise
                    report.failures.append(FileFailure(str(path), f"导入时出现意外错误（{type(e).__name__}），该文件未导入"))
                    continue
                finally:
                    messages.close()  # closes the spill now: Windows cannot delete a file still open
                report.sheets.extend(sheets)
                problem = write_rejects_for(store, sheets, path, rejects_dir)
                if problem:
                    report.failures.append(FileFailure(str(path), problem, imported=True))
    finally:
        if collecting:
            gc.enable()
    # Work went largest file first; the report follows the order the files were given in.
    order = {str(p): i for i, p in enumerate(files)}
    report.sheets.sort(key=lambda r: order.get(r.file, -1))
    report.sheets.extend(skipped)
    report.failures.sort(key=lambda f: order.get(f.file, -1))
    return report


@dataclass
class _Done:
    pass


@dataclass
class _Failed:
    reason: str


def _parse_worker(path: Path, config: Config, forced: str | None, spill: Path, limit: int | None, raw: bool,
                  parse: Callable[..., Iterator[Any]]) -> None:
    """In a worker process: parse one file into a spill file of length-prefixed frames; never raise.

    raw: only read, and leave normalising to the writer (see ParsePool)."""
    _die_with_parent()
    # Millions of short-lived tuples would trigger the cyclic collector over and over
    # (a third of the parse time); this process creates no cycles worth collecting.
    gc.disable()
    if limit is not None:
        _cap_address_space(limit)
    # A native crash would print a Rust backtrace over the officer's terminal.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    faulthandler.disable()
    with private_open(spill) as out:

        def send(message: Any) -> None:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            out.write(FRAME.pack(len(data)) + data)
            out.flush()

        try:
            for message in parse(path, config, forced, raw=raw):
                send(message)
            send(_Done())
        except FileProblem as e:
            send(_Failed(e.reason))
        except BaseException:  # includes pyo3 panics and MemoryError; the reason never quotes a cell
            send(_Failed(CRASHED))


def _die_with_parent() -> None:
    """A worker whose importer was killed must not live on, holding personal data in memory.

    On Linux the kernel kills it (PR_SET_PDEATHSIG), even while a native read holds the
    interpreter lock. Everywhere, Windows included, a thread also watches the parent.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    watch_parent()


def watch_parent() -> None:
    """End this process as soon as the process that started it is gone (waits on its handle)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if not parent.is_alive():
        os._exit(1)

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="relief-parent-watch", daemon=True).start()


def _cap_address_space(limit: int) -> None:
    """A hostile file asking calamine for hundreds of GB fails in the worker, not on the machine.

    Only where RLIMIT_AS exists (Linux and other POSIX). Windows has no per-process limit
    short of a Job Object, so there the cap is skipped: a runaway read is then bounded only
    by the machine, and still takes down only its own worker process.
    """
    try:
        import resource
    except ImportError:
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _address_space() -> int | None:
    """This process's address space in bytes, where the system tells it (Linux /proc)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


class ParsePool:
    """Parses files in worker processes, at most `workers` at once, largest file first.

    Each worker writes its messages to a spill file in a private temporary folder, so a
    worker never waits for the writer: while one worker is still on the big medical
    workbook, the writer merges the files the other worker has finished, then reads the
    medical spill as it grows.
    """

    def __init__(self, files: list[Path], config: Config, forced: str | None, workers: int,
                 parse: Callable[..., Iterator[Any]] = parse_file):
        self.files = sorted(files, key=_size, reverse=True)
        self.config = config
        self.forced = forced
        self.workers = max(1, workers)
        self.parse = parse
        self.ctx = multiprocessing.get_context(START_METHOD)
        self.seconds = config.settings.limits.seconds_per_file
        self.started: dict[int, float] = {}
        self.timed_out: set[int] = set()
        self.procs: dict[int, Any] = {}
        self.next = 0
        self.folder: Path | None = None
        self.grace: int | None = None  # a file whose worker is gone: one more read before "crashed"

    def __enter__(self) -> ParsePool:
        remove_stale_spills()
        # 0700: spills hold personal data. The pid in the name tells a later run whose folder it was.
        self.folder = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-"))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.is_alive():
                proc.kill()
            proc.join()
        self.procs.clear()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _spill(self, i: int) -> Path:
        assert self.folder is not None
        return self.folder / f"{i}.spill"

    def _tick(self) -> None:
        """Reap finished workers and start the next files while fewer than `workers` run."""
        for i, proc in list(self.procs.items()):
            if not proc.is_alive():
                proc.join()
                del self.procs[i]
        while self.next < len(self.files) and len(self.procs) < self.workers:
            used = _address_space()
            limit = used + WORKER_EXTRA_MEMORY if used is not None else None
            i = self.next
            # The last file, with no other worker left: the writer would only wait for it, so the
            # worker just reads and the writer normalises, and the two share the work.
            raw = i == len(self.files) - 1 and not self.procs
            proc = self.ctx.Process(
                target=_parse_worker, args=(self.files[i], self.config, self.forced, self._spill(i), limit, raw, self.parse),
                daemon=True,
            )
            proc.start()
            self.procs[i] = proc
            self.started[i] = time.monotonic()
            self.next += 1

    def __iter__(self) -> Iterator[tuple[Path, Iterator[Any]]]:
        """Files whose worker has finished go first (their spill is complete and merges at full
        speed); a file still being parsed is streamed only once every file has a worker."""
        remaining = set(range(len(self.files)))
        while remaining:
            self._tick()
            finished = [i for i in sorted(remaining) if i < self.next and i not in self.procs]
            if finished:
                i = finished[0]
            elif self.next >= len(self.files):
                i = min(remaining)
            else:
                time.sleep(0.02)
                continue
            remaining.discard(i)
            yield self.files[i], self._messages(i)
            proc = self.procs.pop(i, None)
            if proc is not None and proc.is_alive():  # the writer gave up on this file: free the slot
                proc.kill()
                proc.join()
            try:
                self._spill(i).unlink(missing_ok=True)
            except PermissionError:  # Windows: the worker may still hold it open; the folder goes at the end
                pass

    def _messages(self, i: int) -> Iterator[Any]:
        spill = self._spill(i)
        while not spill.exists():
            self._wait(i)
        with spill.open("rb") as f:
            while True:
                head = f.read(FRAME.size)
                if len(head) == FRAME.size:
                    (length,) = FRAME.unpack(head)
                    data = f.read(length)
                    if len(data) == length:
                        message = pickle.loads(data)
                        if isinstance(message, _Done):
                            return
                        if isinstance(message, _Failed):
                            raise FileProblem(message.reason)
                        yield message
                        continue
                    f.seek(-len(data), os.SEEK_CUR)
                f.seek(-len(head), os.SEEK_CUR)
                self._wait(i)

    def _wait(self, i: int) -> None:
        """Nothing new from file i yet: keep the pool busy; a worker gone without a last frame crashed,
        and one past its time (rules.yaml limits.seconds_per_file) is stopped."""
        proc = self.procs.get(i)
        alive = proc is not None and proc.is_alive()
        if alive and time.monotonic() - self.started[i] > self.seconds:
            proc.kill()
            proc.join()
            self.timed_out.add(i)
            alive = False
        self._tick()
        if not alive:
            if i in self.timed_out:
                raise FileProblem(f"读取超过 {self.seconds} 秒仍未完成（rules.yaml 的 limits.seconds_per_file），"
                                  f"已停止，该文件未导入")
            # One more look: it may have written its last frame just before exiting.
            if self.grace == i:
                raise FileProblem(CRASHED)
            self.grace = i
        else:
            self.grace = None
        time.sleep(0.01)


def remove_stale_spills() -> list[Path]:
    """Spill folders left by imports that were killed (their process is gone) hold personal data in
    the temp folder: each new import removes them. Returns what it removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        pid = folder.name[len(SPILL_PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def write_file(store: Store, path: Path, messages: Iterator[Any], progress: Progress | None,
               as_of: dt.date | None = None, allow_shrink: bool = False, partial: bool = False) -> list[SheetResult]:
    """Merge one file's parsed rows in one transaction; FileProblem leaves the database untouched.

    A full list (rules.yaml full_list) also ends, as of `as_of`, the entries of its scope it no
    longer names, and reopens those it names again (see Store.close_listing)."""
    day = (as_of or dt.date.today()).isoformat()
    # full-list source -> (the first sheet that lists it, the last _id before, whether it only adds)
    listed: dict[str, tuple[int, int, bool]] = {}
    digest = _sha256(path)
    results: dict[int, SheetResult] = {}
    headers: dict[int, Header] = {}
    parsers: dict[int, SheetParser] = {}  # sheets that arrive raw, normalised here
    state = FileParse(store.config)
    bulk: dict[str, bool] = {}
    latest: dict[str, str | None] = {}  # per source, its latest record date in this file (relief status)
    with store.transaction():
        import_id = store.start_import(path.name, str(path), digest)
        for message in messages:
            if isinstance(message, RawRows):
                if message.index not in parsers:
                    parsers[message.index] = state.sheet(results[message.index].sheet, headers[message.index])
                index, message = message.index, parsers[message.index].chunk(message.batch, message.numbers)
                message.index = index
            if isinstance(message, SheetStart):
                results[message.index] = SheetResult(str(path), message.name, message.source, skipped_reason=message.skipped_reason)
                if message.header is not None:
                    headers[message.index] = message.header
            elif isinstance(message, Rows):
                result, header = results[message.index], headers[message.index]
                _check_rows(store, header, message, result.sheet)
                if header.source not in bulk:
                    bulk[header.source] = store.begin_bulk(header.source)
                fields = list(store.config.sources[header.source].fields)
                records = message.records(result.sheet, path.name, import_id)
                if bulk[header.source]:
                    counts = store.append_rows(header.source, fields, records, len(message))
                else:
                    if store.config.sources[header.source].full_list is not None and header.source not in listed:
                        listed[header.source] = (message.index, store.max_id(header.source), partial or header.from_rejects)
                    counts = store.merge_rows(header.source, fields, records, message.keys)
                    if header.source in listed:
                        store.note_listed(header.source, message.keys, message.protected)
                _note_latest(latest, store.config.sources[header.source], header.source, fields, message.columns)
                result.imported += counts.imported
                result.updated += counts.updated
                result.unchanged += counts.unchanged
                # Every refused row is kept; of the rows kept with a cell left blank, the parse sends the first.
                if message.rejects or message.notes:
                    store.add_rejects(import_id, result.sheet, header.titles[:MAX_REJECT_CELLS],
                                      ((r.row, _cells_json(r.cells), r.reason) for r in (*message.rejects, *message.notes)))
                result.rejected += len(message.rejects)
                result.blanked += message.blanked
                refused = sum(r.rejected for r in results.values())
                if refused > store.config.settings.limits.rejected_rows_per_file:
                    raise FileProblem(f"拒收的行超过 {store.config.settings.limits.rejected_rows_per_file:,} 行"
                                      f"（rules.yaml 的 limits.rejected_rows_per_file），整份文件多半有问题（如表头错位、"
                                      f"大量重复行），该文件未导入")
                if progress:
                    progress(path.name, result.sheet, message.seen)
            elif isinstance(message, SheetEnd):
                result, header = results[message.index], headers[message.index]
                result.rows = parsers[message.index].count if message.index in parsers else message.rows
                if header.source in AFTER_MERGE:
                    AFTER_MERGE[header.source](store, import_id, path.name)
        for source, appended in bulk.items():
            if appended:
                store.create_indexes(source)
                if not partial and store.config.sources[source].full_list is not None:
                    store.record_listing(source, day, import_id)
        for source, (index, first_new, adds) in listed.items():  # a first load (appended) has nothing to end
            new_rows = sum(r.imported for i, r in results.items() if i in headers and headers[i].source == source)
            try:
                results[index].ended, _ = store.close_listing(source, day, import_id, new_rows, allow_shrink,
                                                              first_new, end=not adds)
            except ListOutOfOrder as e:
                label = store.config.sources[source].label
                raise FileProblem(f"这份「{label}」整表的日期 {day} 早于已导入的整表（{e.latest}），按整表导入会把之后"
                                  f"新增的人移出，该文件未导入；要补充较早的名单请加 --partial") from None
            except ShrinkRefused as e:
                label = store.config.sources[source].label
                raise FileProblem(
                    f"这是「{label}」的整表，导入后将移出 {e.ended} 条（原有 {e.listed_before} 条的 "
                    f"{e.ended / max(e.listed_before, 1):.0%}，超过 {e.share:.0%}），可能是导出不完整，该文件未导入；"
                    f"确认名单确实减少了这么多时，请加 --allow-shrink 重新导入") from None
        ordered = [results[k] for k in sorted(results)]
        for r in ordered:
            r.import_id = import_id
        totals = {k: sum(getattr(r, k) for r in ordered) for k in ("rows", "imported", "updated", "unchanged", "rejected")}
        store.finish_import(import_id, [r.as_dict() for r in ordered], totals, latest)
    return ordered


def _note_latest(latest: dict[str, str | None], spec: Any, source: str, fields: list[str], columns: list[list[Any]]) -> None:
    """Keep the latest value of the source's record date (ISO dates and YYYYMM periods sort as text)."""
    field = spec.date_field
    newest = max(filter(None, columns[fields.index(field)]), default=None) if field else None
    if newest is None or (latest.get(source) or "") >= newest:
        latest.setdefault(source, None)
    else:
        latest[source] = newest


def write_rejects_for(store: Store, sheets: list[SheetResult], path: Path, rejects_dir: Path) -> str | None:
    """The rejects workbook of an imported file, from the rows kept in the database; what went wrong, or None.

    The file's data is committed by now: a failure here costs only the workbook, which
    `relief rejects` can write again."""
    with_rejects = [r for r in sheets if r.rejected or r.blanked]
    if not with_rejects:
        return None
    import_id = with_rejects[0].import_id
    assert import_id is not None
    try:
        out = write_rejects(store, import_id, rejects_path(rejects_dir, path, import_id))
    except Exception as e:  # OutputProblem says why in Chinese; anything else only by its type
        from .privacy import OutputProblem

        why = str(e) if isinstance(e, OutputProblem) else f"意外错误（{type(e).__name__}）"
        return f"拒收明细没能写出：{why}；可用 relief rejects {import_id} --xlsx 文件名.xlsx 重新写出"
    for r in with_rejects:
        r.rejects_file = str(out)
    return None


def rejects_path(rejects_dir: Path, path: Path, import_id: int) -> Path:
    """Unique per import (two inputs may share a name), short enough for any file system."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return rejects_dir / f"{path.stem[:40]}-拒收-{import_id}-{stamp}.xlsx"


def _cells_json(cells: list[Any]) -> str:
    return json.dumps(_plain(cells[:MAX_REJECT_CELLS]), ensure_ascii=False, default=str)


def _check_rows(store: Store, header: Header, message: Rows, sheet: str) -> None:
    """Drop the rows that fail the source's own check (one that needs the database) into message.rejects."""
    check = ROW_CHECKS.get(header.source)
    if check is None:
        return
    fields = list(store.config.sources[header.source].fields)
    keep = []
    for row, number in zip(zip(*message.columns), message.numbers):
        values = dict(zip(fields, row))
        problem = check(store, values)
        if problem:
            # The worker kept only normalised values: put them back under their original columns.
            cells: list[Any] = [None] * len(header.titles)
            for position, name in header.columns.items():
                cells[position] = values[name]
            message.rejects.append(Reject(sheet, number, cells, problem))
        keep.append(not problem)
    message.keep(keep)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _check_visit(store: Store, row: dict[str, Any]) -> str | None:
    """A returned visit row must name a fixed outcome (with its detail), existing alerts, and a visit
    date between the alert's raising and today; a date without a result is reported, not stored."""
    from .followup import Outcome, OutcomeProblem, check_outcome, outcome_conflict, parse_alert_ids, unknown_alerts

    ids = parse_alert_ids(row.get("alert_ids"))
    unknown = unknown_alerts(store, ids)
    if unknown:
        return f"「预警编号」列：预警编号不存在：{'、'.join(map(str, unknown))}"
    if not row.get("outcome"):
        return "「走访结果」列：填了走访日期，但没有填走访结果"
    outcome = Outcome(row["outcome"], dt.date.fromisoformat(row["visit_date"]), row.get("handler") or "",
                      row.get("outcome_detail"), row.get("note"))
    try:
        check_outcome(store, outcome)
    except OutcomeProblem as e:
        return f"「走访结果」列：{e}"
    conflict = outcome_conflict(store, ids, outcome)
    return None if conflict is None else f"「{conflict.column}」列：{conflict}"


def _apply_visits(store: Store, import_id: int, file_name: str) -> None:
    from .followup import apply_visit_rows

    apply_visit_rows(store, import_id, file_name)


# The returned visit sheet is data like any other, plus two steps of its own.
ROW_CHECKS: dict[str, Callable[[Store, dict[str, Any]], str | None]] = {"visits": _check_visit}
AFTER_MERGE: dict[str, Callable[[Store, int, str], None]] = {"visits": _apply_visits}


def write_rejects(store: Store, import_id: int, out: Path) -> Path:
    """One workbook per imported file, one sheet per source sheet (each under its own original header,
    so a fixed workbook imports again as is), original cells + reason; sheets longer than Excel's
    1,048,575 rows continue on further sheets. Read from the database and streamed to disk."""
    from .xlsx import write_rows_workbook  # openpyxl: loaded only when a file has rejects

    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_rows_workbook(out, (_rejects_sheet(name, titles, store.rejects_of(import_id, name))
                              for name, titles in store.reject_sheets(import_id)))
    return out


def _rejects_sheet(name: str, titles: list[str], rows: Iterator[tuple[int, list[Any], str]]) -> tuple[str, list[str], Iterator[list[Any]]]:
    """Original cells padded to the sheet's own width, then the reason, the sheet and the row."""
    width = min(MAX_REJECT_CELLS, len(titles))
    lines = ([*cells[:width], *[""] * (width - len(cells[:width])), reason, name, row] for row, cells, reason in rows)
    return name, [*titles[:width], *REJECT_COLUMNS], lines


def _plain(cells: list[Any]) -> list[Any]:
    """Cells as they can be written back: dates and times become text."""
    out = []
    for c in cells:
        if isinstance(c, (dt.date, dt.datetime, dt.time, dt.timedelta)):
            out.append(str(c))
        else:
            out.append(c)
    return out
