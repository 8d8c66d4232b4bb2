"""Every command without --show-pii, over the sample city: no ID number or mobile number escapes."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from relief_cli.cli import app

ROOT = Path(__file__).parent.parent
ID_RE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
runner = CliRunner()


@pytest.fixture()
def city(sample_city, dbs, tmp_path, monkeypatch):
    """The sample city (imported and scanned as of 2026-11-20), a copy per command: one imports."""
    monkeypatch.chdir(tmp_path)  # where a server database's rejects go (<dbname>-rejects)
    return tmp_path, dbs.copy(sample_city)


def assert_clean(text: str, where: str) -> None:
    assert not ID_RE.search(text), f"ID number in {where}: {ID_RE.search(text).group()[:4]}…"
    assert not PHONE_RE.search(text), f"phone number in {where}"


COMMANDS = [
    ["alerts"], ["alerts", "--format", "json"], ["alerts", "--format", "csv"], ["alerts", "--xlsx", "{out}/alerts.xlsx"],
    ["overdue", "--as-of", "2026-12-31", "--allow-future"], ["overdue", "--as-of", "2026-12-31", "--allow-future", "--format", "json"],
    ["overdue", "--as-of", "2026-12-31", "--allow-future", "--xlsx", "{out}/overdue.xlsx"],
    ["checklist", "--community", "金口岭", "--as-of", "2026-11-20"],
    ["checklist", "--community", "杨滨", "--as-of", "2026-11-20", "--format", "json"],
    ["checklist", "--community", "荷花塘", "--as-of", "2026-11-20", "--xlsx", "{out}/checklist.xlsx"],
    ["report", "--from", "2026-01-01", "--to", "2026-12-31"], ["report", "--to", "2026-12-31", "--xlsx", "{out}/report.xlsx"],
    ["scan", "--as-of", "2026-11-21", "--dry-run"], ["history", "1"],
    ["import", str(ROOT / "sample_data" / "公安_户籍人口.xlsx"), "--format", "json"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:3]))
def test_no_personal_numbers_in_any_output_or_file(city, args):
    folder, db = city
    out = folder / "out"
    out.mkdir(exist_ok=True)
    argv = [a.format(out=out) for a in args] + ["--db", str(db)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert_clean(result.output, " ".join(args))
    for path in out.glob("*.xlsx"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        for ws in openpyxl.load_workbook(path):
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f"
                    if cell.value is not None:
                        assert_clean(str(cell.value), f"{path.name}!{ws.title}")
        path.unlink()


def test_the_sample_does_contain_numbers_the_mask_must_catch(city):
    """Guards the test above: unmasked output does show IDs and phones."""
    folder, db = city
    shown = runner.invoke(app, ["alerts", "--db", str(db), "--format", "json", "--show-pii"]).output
    assert ID_RE.search(shown)
    shown = runner.invoke(app, ["checklist", "--community", "金口岭", "--db", str(db), "--show-pii", "--as-of", "2026-11-20"]).output
    assert PHONE_RE.search(shown)
