"""Rendering service results for the terminal: rich tables and JSON. Nothing here computes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    # Plain print: rich would re-wrap long strings and break the JSON.
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], justify_right: set[str] | None = None) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    right = justify_right or set()
    for c in columns:
        t.add_column(c, justify="right" if c in right else "left", overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def import_summary(report: Any) -> Table:
    cols = ["文件", "工作表", "来源", "行数", "新增", "更新", "未变", "拒收", "说明"]
    rows = []
    for s in report.sheets:
        note = s.skipped_reason or ("见拒收明细" if s.rejects_file else "")
        rows.append([_short(s.file), s.sheet, s.source or "—", s.rows, s.imported, s.updated, s.unchanged, s.rejected, note])
    total = [sum(getattr(s, k) for s in report.sheets) for k in ("rows", "imported", "updated", "unchanged", "rejected")]
    rows.append(["合计", "", "", *total, ""])
    t = table("导入结果", cols, rows, justify_right={"行数", "新增", "更新", "未变", "拒收"})
    files = sorted({s.rejects_file for s in report.sheets if s.rejects_file})
    if files:
        t.caption = "拒收明细（改正后可直接再次导入）：\n" + "\n".join(files)
        t.caption_justify = "left"
    return t


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]
