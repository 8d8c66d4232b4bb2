"""CI runs the benchmark at a tiny scale so the script keeps working (timings are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_benchmark_smoke_run(tmp_path):
    results = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--skip-pandas",
         "--cache", str(tmp_path / "cache"), "--results", str(results)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    text = results.read_text(encoding="utf-8")
    for step in ("relief import（全市数据）", "relief scan", "relief overdue --days 5", "relief checklist --community 金口岭",
                 "relief --help（启动）", "python-calamine 逐行读取（下限）", "pandas read_excel(openpyxl) + to_sql"):
        assert step in text
    assert "核，内存" in text
