"""Windows portability. The whole suite also runs under the Windows simulation (tests/winsim,
which .ci/run starts); these tests check what only that kind of office PC meets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relief_cli import importer
from relief_cli.config import load_config
from relief_cli.importer import import_paths
from relief_cli.pg import is_url
from relief_cli.privacy import private_open
from relief_cli.store import Store
from conftest import ROOT, make_id, pg_admin, pg_name

SIMULATED = os.environ.get("RELIEF_SIMULATE_WINDOWS") == "1"


@pytest.mark.skipif(not SIMULATED, reason="only under RELIEF_SIMULATE_WINDOWS=1 (the second run of .ci/run)")
def test_the_simulation_is_really_on():
    """If the simulation silently stopped hiding things, this second run would prove nothing."""
    with pytest.raises(ImportError):
        import resource  # noqa: F401
    with pytest.raises(ImportError):
        import fcntl  # noqa: F401
    assert not hasattr(os, "fork") and not hasattr(os, "fchmod")
    assert importer.START_METHOD == "spawn"


@pytest.mark.skipif(not SIMULATED, reason="only under RELIEF_SIMULATE_WINDOWS=1 (the second run of .ci/run)")
def test_the_simulation_reaches_processes_started_elsewhere(tmp_path):
    """Tests start relief in other folders: a relative PYTHONPATH would quietly drop the simulation there."""
    probe = subprocess.run([sys.executable, "-c", "from relief_cli import importer; print(importer.START_METHOD)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.strip() == "spawn", probe.stderr


def test_a_closed_pipe_as_windows_reports_it(monkeypatch):
    """Windows raises OSError(EINVAL) where POSIX raises BrokenPipeError; both end quietly."""
    import errno

    from relief_cli.cli import closed_pipe

    assert closed_pipe(BrokenPipeError()) and not closed_pipe(OSError(errno.EINVAL, "Invalid argument"))
    monkeypatch.setattr(os, "name", "nt")
    assert closed_pipe(OSError(errno.EINVAL, "Invalid argument")) and not closed_pipe(OSError(errno.ENOSPC, "full"))


def test_start_method_is_fork_only_where_it_exists():
    import multiprocessing

    expected = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    assert importer.START_METHOD == expected


def test_private_files_without_fchmod(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fchmod", raising=False)
    with private_open(tmp_path / "子 文件夹" / "导出.xlsx") as f:
        f.write(b"x")
    assert (tmp_path / "子 文件夹" / "导出.xlsx").read_bytes() == b"x"


def relief(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relief_cli", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", cwd=cwd, env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})})


def test_paths_with_chinese_characters_and_spaces(dbs, tmp_path):
    inbox = tmp_path / "十一月 导出" / "医保 局"
    inbox.mkdir(parents=True)
    for name in ("医保_结算明细_2025-2026.xlsx", "公安_户籍人口.xlsx", "网格中心_网格与网格员.xlsx", "民政_救助对象名册.xls"):
        (inbox / name.replace("_", " ")).write_bytes((ROOT / "sample_data" / name).read_bytes())
    (tmp_path / "救助 数据").mkdir()
    db = dbs.new("救助 数据/民政 局.db")  # (a server database: only the inputs' and exports' paths)
    done = relief("import", inbox.parent, "--db", db, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sheets = json.loads(done.stdout)
    assert {Path(s["file"]).name for s in sheets} == {"医保 结算明细 2025-2026.xlsx", "公安 户籍人口.xlsx",
                                                     "网格中心 网格与网格员.xlsx", "民政 救助对象名册.xls"}
    assert all(s["imported"] > 0 for s in sheets if s["source"])
    assert relief("scan", "--db", db, "--as-of", "2026-11-20", cwd=tmp_path).returncode == 0
    target = tmp_path / "下发 文件" / "金口岭 预警.xlsx"
    done = relief("alerts", "--db", db, "--community", "金口岭", "--xlsx", target, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert target.stat().st_size > 0 and f"到 {target}" in done.stdout


def test_crlf_gbk_csv_from_a_windows_export(store, tmp_path):
    path = tmp_path / "人社 失业登记.csv"
    rows = ["身份证号,登记类型,登记日期", f"{make_id(seq=5)},失业登记,2026/11/3", f"{make_id(seq=6)},就业登记,2026-11-04", ""]
    path.write_bytes("\r\n".join(rows).encode("gbk"))
    report = import_paths(store, [path])
    assert not report.failures
    assert [(s.source, s.rows, s.imported, s.rejected) for s in report.sheets] == [("unemployment", 2, 2, 0)]
    stored = store.conn.execute("SELECT reg_type, reg_date FROM src_unemployment ORDER BY reg_date").fetchall()
    assert stored == [("失业登记", "2026-11-03"), ("就业登记", "2026-11-04")]


def test_worker_spills_go_to_the_temp_folder_and_leave_nothing(dbs, tmp_path):
    temp = tmp_path / "临时 文件"
    temp.mkdir()
    env = {"TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}
    done = relief("import", ROOT / "sample_data", "--db", dbs.new("a.db"), "--format", "json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(temp.iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie waiting for its (dead) parent to be reaped has finished too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _kill_parent_and_wait(tmp_path: Path, script: str, marker: Path) -> None:
    """Run script (which starts a child that writes its pid to marker), SIGKILL it, and check the child ends."""
    (tmp_path / "run_parent.py").write_text(script, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(tmp_path / "run_parent.py")], cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the child never started"
    time.sleep(0.2)
    child = int(marker.read_text(encoding="utf-8"))
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the child outlived its parent"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills the parent with SIGKILL")
def test_the_parent_watch_alone_ends_a_spawned_child(tmp_path):
    """What ends an orphaned worker on Windows: no kernel help, only the watch on the parent's handle."""
    marker = tmp_path / "child.pid"
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
              "import multiprocessing\n"
              "from conftest import watched_sleeper\n"
              "if __name__ == '__main__':\n"
              f"    p = multiprocessing.get_context('spawn').Process(target=watched_sleeper, args=({str(marker)!r},))\n"
              "    p.start(); p.join()\n")
    _kill_parent_and_wait(tmp_path, script, marker)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills the importer with SIGKILL")
def test_a_worker_ends_when_its_importer_is_killed(db, tmp_path):
    """Under fork the kernel ends it (Linux); under spawn, as on Windows, its watcher thread does.
    Nothing of the file is in the database, and a server has ended the importer's session."""
    data = tmp_path / "d.csv"
    data.write_text("身份证号,死亡日期\n" + make_id(seq=9) + ",2026-11-01\n", encoding="utf-8")
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
              "from conftest import slow_parse\n"
              "from relief_cli.config import load_config\n"
              "from relief_cli.importer import import_paths\n"
              "from relief_cli.store import Store\n"
              "if __name__ == '__main__':\n"
              f"    import_paths(Store({db!r}, load_config(None)), [__import__('pathlib').Path({str(data)!r})],"
              " parse=slow_parse)\n")
    _kill_parent_and_wait(tmp_path, script, Path(str(data) + ".started"))
    if is_url(db):
        deadline = time.monotonic() + 30
        while pg_admin("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                       (pg_name(db),)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pg_admin("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            (pg_name(db),))
    with Store(db, load_config(None)) as store:
        assert store.conn.execute("SELECT count(*) FROM imports").fetchone()[0] == 0
        assert store.count("deaths") == 0


def test_csv_output_ends_lines_once(sample_city):
    """csv.writer's \\r\\n through a text-mode stdout became \\r\\r\\n on Windows (a blank line in Excel)."""
    done = subprocess.run([sys.executable, "-m", "relief_cli", "alerts", "--db", str(sample_city), "--format", "csv"],
                          capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0 and done.stdout.count(b"\n") > 10
    assert b"\r\r\n" not in done.stdout
    if os.name != "nt":
        assert b"\r" not in done.stdout
