"""python-calamine-plus (streamed xlsx) is optional: without it, or when it fails on a sheet,
python-calamine reads the sheet whole and the import comes out the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from relief_cli import reader
from relief_cli.parse import Rows, parse_file
from conftest import ROOT

XLSX = sorted((ROOT / "sample_data").glob("*.xlsx"))


def messages(path, config):
    """What a parse worker sends for a file: sheets, and every row's values and reasons."""
    out = []
    for m in parse_file(path, config, None):
        if isinstance(m, Rows):
            out.append((m.index, [list(c) for c in m.columns], list(m.numbers), [(r.row, r.reason) for r in m.rejects]))
        else:
            out.append(m)
    return out


class _Failing:
    """A streaming workbook that breaks after `after` rows of each stream, as a buggy fork might."""

    def __init__(self, wb, after):
        self._wb, self._after = wb, after

    def stream_sheet_by_name(self, *args, **kwargs):
        for n, row in enumerate(self._wb.stream_sheet_by_name(*args, **kwargs)):
            if n == self._after:
                raise RuntimeError("stream broke")
            yield row


@pytest.mark.skipif(reader.python_calamine_plus is None, reason="python-calamine-plus is not installed")
@pytest.mark.parametrize("after", [0, 1, 7, 500])
def test_a_stream_that_fails_midway_is_finished_by_python_calamine(config, monkeypatch, after):
    expected = {path.name: messages(path, config) for path in XLSX}
    real = reader._StreamedSheet.__init__

    def failing(self, wb, *args):
        real(self, _Failing(wb, after), *args)

    monkeypatch.setattr(reader._StreamedSheet, "__init__", failing)
    for path in XLSX:
        assert messages(path, config) == expected[path.name], path.name


@pytest.mark.skipif(reader.python_calamine_plus is None, reason="python-calamine-plus is not installed")
def test_a_workbook_the_fork_cannot_open_is_read_by_python_calamine(config, monkeypatch):
    expected = {path.name: messages(path, config) for path in XLSX}

    def refuse(path):
        raise RuntimeError("cannot open")

    monkeypatch.setattr(reader.python_calamine_plus.CalamineWorkbook, "from_path", staticmethod(refuse))
    for path in XLSX:
        assert messages(path, config) == expected[path.name], path.name


def test_without_the_fork_the_import_is_the_same(dbs, tmp_path):
    """Processes (the importer and its workers) in which python-calamine-plus cannot be imported."""
    hidden = tmp_path / "hidden"
    (hidden / "python_calamine_plus").mkdir(parents=True)
    (hidden / "python_calamine_plus" / "__init__.py").write_text("raise ImportError('not installed')\n", encoding="utf-8")
    results = {}
    for name, path in (("plain", [str(hidden)]), ("fork", [])):
        pythonpath = os.pathsep.join(path + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        done = subprocess.run([sys.executable, "-m", "relief_cli", "import", str(ROOT / "sample_data"), "--db",
                               dbs.new(f"{name}.db"), "--format", "json"], cwd=tmp_path,
                              capture_output=True, text=True, encoding="utf-8",
                              env={**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": pythonpath})
        assert done.returncode == 0, done.stderr
        # Import ids and rejects names follow the order in which the workers happen to finish.
        results[name] = [{k: v for k, v in s.items() if k not in ("rejects_file", "import_id")}
                         for s in json.loads(done.stdout)]
    assert results["plain"] == results["fork"]
    assert sum(s["imported"] for s in results["plain"]) > 10_000
    probe = subprocess.run([sys.executable, "-c", "import relief_cli.reader as r; print(r.python_calamine_plus)"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(hidden)})
    assert probe.stdout.strip() == "None"
