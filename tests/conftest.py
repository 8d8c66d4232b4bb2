from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from relief_cli.config import load_config
from relief_cli.store import Store
from relief_cli.values import id_check_digit

DATA = Path(__file__).parent / "data"


def make_id(region: str = "340705", birth: str = "19800101", seq: int = 1) -> str:
    """A synthetic resident ID with a valid check digit."""
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + id_check_digit(first17)


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]], hidden: tuple[str, ...] = ()) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


@pytest.fixture()
def config():
    return load_config(Path(__file__).parent.parent / "rules.yaml")


@pytest.fixture()
def store(tmp_path, config):
    s = Store(tmp_path / "relief.db", config)
    yield s
    s.close()


@pytest.fixture()
def as_of() -> dt.date:
    return dt.date(2026, 11, 20)


def load(store: Store, folder: Path, source: str, rows: list[dict[str, Any]]) -> None:
    """Import rows through the real importer (CSV with the canonical field names as headers)."""
    import csv

    from relief_cli.importer import import_paths

    fields = list(store.config.sources[source].fields)
    path = folder / f"{source}-{len(list(folder.glob(source + '-*.csv')))}.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for row in rows:
            writer.writerow(["" if row.get(k) is None else row.get(k) for k in fields])
    report = import_paths(store, [path], source=source, partial=True)  # rows added to what the test loaded before
    assert not report.failures and all(s.rejected == 0 for s in report.sheets), report


def crashing_parse(path: Path, config: Any, forced: str | None, raw: bool = False) -> Any:
    """A worker's parse that dies natively on crash.csv; module-level so spawned workers can run it."""
    import os

    from relief_cli.parse import parse_file

    if path.name == "crash.csv":
        os.abort()  # what a native crash in the reader looks like from outside
    return parse_file(path, config, forced, raw=raw)


ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def sample_city(tmp_path_factory) -> Path:
    """The bundled sample city imported and scanned as of 2026-11-20 (read-only: copy it to change it)."""
    from relief_cli.importer import import_paths
    from relief_cli.scan import scan

    db = tmp_path_factory.mktemp("sample-city") / "relief.db"
    with Store(db, load_config(ROOT / "rules.yaml")) as s:
        assert not import_paths(s, [ROOT / "sample_data"]).failures
        scan(s, dt.date(2026, 11, 20))
    return db


def slow_parse(path: Path, config: Any, forced: str | None, raw: bool = False) -> Any:
    """A worker's parse that never finishes: for killing its importer while it runs."""
    import time

    from relief_cli.parse import parse_file

    Path(str(path) + ".started").write_text(str(__import__("os").getpid()), encoding="utf-8")
    time.sleep(120)
    return parse_file(path, config, forced, raw=raw)


def watched_sleeper(marker: str) -> None:
    """A spawned child that relies on the parent watch alone (no PR_SET_PDEATHSIG), as on Windows."""
    import os
    import time

    from relief_cli.importer import watch_parent

    watch_parent()
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(120)
