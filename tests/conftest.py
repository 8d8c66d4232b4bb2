from __future__ import annotations

import datetime as dt
import itertools
import os
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


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory):
    """The server's translated statements (pg.Translations) go to a folder of the test run, not the
    user's cache; commands run in subprocesses inherit it."""
    os.environ["RELIEF_CACHE_DIR"] = str(tmp_path_factory.mktemp("relief-cache"))
    yield


# The stores the suite runs on: SQLite always; a PostgreSQL server too when RELIEF_TEST_PG names an
# administrator's address on it (.ci/run starts a throwaway cluster and sets it). Tests that take
# `store_kind`, `dbs`, `db`, `store` or `sample_city` run once per store.
PG_ADMIN = os.environ.get("RELIEF_TEST_PG")
STORES = ("sqlite", "postgresql") if PG_ADMIN else ("sqlite",)


class Databases:
    """New empty databases of one kind for a test: a file under tmp_path, or a database on the
    test server (dropped afterwards)."""

    def __init__(self, kind: str, folder: Path):
        self.kind, self.folder, self.created = kind, folder, []

    @property
    def pg(self) -> bool:
        return self.kind == "postgresql"

    def new(self, name: str = "relief.db") -> str:
        if not self.pg:
            return str(self.folder / name)
        return self._create("")

    def copy(self, source: str, name: str = "copy.db") -> str:
        """A copy of a database (closed: a server copies only a database nobody is connected to)."""
        if not self.pg:
            import shutil

            shutil.copyfile(source, self.folder / name)
            return str(self.folder / name)
        return self._create(f' TEMPLATE "{pg_name(source)}"')

    def _create(self, template: str) -> str:
        name = f"t{os.getpid()}_{next(_COUNTER)}"
        pg_admin(f'CREATE DATABASE "{name}"{template}')
        self.created.append(name)
        return pg_url(name)

    def drop_all(self) -> None:
        for name in self.created:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_COUNTER = itertools.count(1)


def pg_url(name: str, user: str | None = None, password: str | None = None) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(PG_ADMIN)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user is not None:
        netloc = f"{user}{':' + password if password else ''}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def pg_name(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path.strip("/")


def pg_admin(sql: str, params: Any = None, database: str | None = None) -> list[tuple]:
    """A statement as the server's administrator (outside relief), in autocommit."""
    import psycopg

    with psycopg.connect(PG_ADMIN if database is None else pg_url(database), autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    return request.param


@pytest.fixture()
def dbs(store_kind, tmp_path):
    d = Databases(store_kind, tmp_path)
    yield d
    if d.pg:
        d.drop_all()


@pytest.fixture()
def db(dbs) -> str:
    """A new database's target (--db): a file path, or a postgresql:// address."""
    return dbs.new()


@pytest.fixture()
def store(db, config, tmp_path):
    s = Store(db, config)
    if s.pg:  # a server's rejects go to <dbname>-rejects in the current folder: here, the test's own
        s.path = tmp_path / s.path.name
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


def parse_in_pairs(path: Path, config: Any, forced: str | None, raw: bool = False) -> Any:
    """A worker's parse that sends its rows two at a time, so that a small file arrives in many chunks;
    module-level so spawned workers can run it."""
    from relief_cli import parse

    parse.CHUNK_ROWS = 2
    return parse.parse_file(path, config, forced, raw=raw)


ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def _sample_cities(tmp_path_factory):
    built: dict[str, str] = {}
    yield built
    if "postgresql" in built:
        pg_admin(f'DROP DATABASE IF EXISTS "{pg_name(built["postgresql"])}" WITH (FORCE)')


@pytest.fixture()
def sample_city(_sample_cities, store_kind, tmp_path_factory) -> str:
    """The bundled sample city imported and scanned as of 2026-11-20, once per store (read-only:
    copy it with dbs.copy to change it). A file path, or a postgresql:// address."""
    from relief_cli.importer import import_paths
    from relief_cli.scan import scan

    if store_kind not in _sample_cities:
        folder = tmp_path_factory.mktemp("sample-city")
        if store_kind == "postgresql":
            name = f"sample{os.getpid()}"
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            pg_admin(f'CREATE DATABASE "{name}"')
            target = pg_url(name)
        else:
            target = str(folder / "relief.db")
        with Store(target, load_config(ROOT / "rules.yaml")) as s:
            assert not import_paths(s, [ROOT / "sample_data"], rejects_dir=folder / "relief-rejects").failures
            scan(s, dt.date(2026, 11, 20))
        _sample_cities[store_kind] = target
    return _sample_cities[store_kind]


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
