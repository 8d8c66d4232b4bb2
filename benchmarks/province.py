"""A synthetic province: several reference cities side by side, for the server-mode benchmark (issue 15).

City 0 is the reference city of run.py exactly (same generator, same seed). Every further city is made by
the same generator with its own seed, region codes (so that ID numbers, household numbers and family
numbers do not collide), district names, community names (a disjoint share of the generator's name
stems, and its own names for the story communities), and a settlement-number range of its own.
The generator's module-level tables are swapped for the duration of one city and restored after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from relief_cli import sample

# (city, region-code prefix, its four districts in the order of sample._DISTRICTS)
CITIES = (
    ("铜陵", "3407", None),  # the reference city itself
    ("合肥", "3401", ("瑶海区", "庐阳区", "蜀山区", "肥东县")),
    ("芜湖", "3402", ("镜湖区", "弋江区", "鸠江区", "无为市")),
    ("蚌埠", "3403", ("龙子湖区", "蚌山区", "禹会区", "怀远县")),
    ("淮南", "3404", ("大通区", "田家庵区", "谢家集区", "凤台县")),
    ("马鞍山", "3405", ("花山区", "雨山区", "博望区", "当涂县")),
    ("淮北", "3406", ("杜集区", "相山区", "烈山区", "濉溪县")),
)
SETTLEMENTS_PER_CITY = 10_000_000  # settlement numbers: YB<date><8 digits>, a range per city


@contextmanager
def _city_tables(k: int, cities: int) -> Iterator[dict[str, str]]:
    """Swap the generator's tables for city k; yields {story community name: this city's name}."""
    name, prefix, districts = CITIES[k]
    saved = (sample._DISTRICTS, sample._FIXED_COMMUNITIES, sample.STORIES, sample._community_stems)
    renamed_district = {old: new for old, new in zip(saved[0], districts)}
    renamed_community = {c: f"{name}{c}" for _, _, c in saved[1]}
    sample._DISTRICTS = {renamed_district[d]: (prefix + code[4:], share, towns)
                         for d, (code, share, towns) in saved[0].items()}
    sample._FIXED_COMMUNITIES = tuple((renamed_district[d], t, renamed_community[c]) for d, t, c in saved[1])
    sample.STORIES = {key: prefix + value[4:] for key, value in saved[2].items()}
    original_stems = saved[3]

    def stems(rng: random.Random) -> Iterator[str]:
        # Every city draws from the same shuffled stems (a fixed seed) and keeps every cities-th one from
        # its own offset: no community name is shared. Then this city's rng, as the generator expects.
        shared = list(original_stems(random.Random(0)))
        mine = shared[k::cities]
        rng.shuffle(mine)
        yield from mine

    sample._community_stems = stems
    try:
        yield renamed_community
    finally:
        sample._DISTRICTS, sample._FIXED_COMMUNITIES, sample.STORIES, sample._community_stems = saved


def generate_city_k(out: Path, k: int, cities: int, households: int, seed: int) -> int:
    """City k of a province into `out`; returns its record count."""
    if k == 0:
        return sample.generate_city(out, households=households, seed=seed).records
    _, prefix, _ = CITIES[k]
    out.mkdir(parents=True, exist_ok=True)
    with _city_tables(k, cities) as renamed:
        city = sample._City(out, households, random.Random(seed + k), sample.SAMPLE_AS_OF, 1_048_575, None)
        # The story households look their communities up by the reference city's names.
        city.by_name.update({old: city.by_name[new] for old, new in renamed.items()})
        city.settlement_counter = k * SETTLEMENTS_PER_CITY

        def hukou_no(self: sample._City = city) -> str:
            self.hukou_counter += self.rng.randint(1, 7)
            return f"{prefix}02{self.hukou_counter:09d}"

        city._hukou_no = hukou_no
        return city.run().records


def province(cache: Path, cities: int, households: int, seed: int, reuse: Path | None = None) -> list[Path]:
    """The province's city folders, made once per (cities, households, seed) and kept in the cache.
    reuse: an already generated reference city (run.py's cache) to copy as city 0."""
    if not 1 <= cities <= len(CITIES):
        raise SystemExit(f"--cities 应在 1 到 {len(CITIES)} 之间")
    folders = []
    for k in range(cities):
        out = cache / f"province-{households}-{seed}" / f"city{k}-{CITIES[k][0]}"
        if not (out / ".complete").exists():
            shutil.rmtree(out, ignore_errors=True)
            if k == 0 and reuse is not None and (reuse / ".complete").exists():
                shutil.copytree(reuse, out)
            else:
                print(f"生成第 {k + 1} 个城市（{CITIES[k][0]}，{households:,} 户）到 {out} …", flush=True)
                records = generate_city_k(out, k, cities, households, seed)
                (out / ".complete").write_text(json.dumps({"records": records}), encoding="utf-8")
        folders.append(out)
    return folders


# -- the benchmark ---------------------------------------------------------------------------------------

AS_OF = "2026-11-20"
LATE = "2026-12-04"
COMMUNITY = "金口岭社区"
# The server's settings for this benchmark (tools/pg_cluster.sh, RELIEF_PG_SETTINGS): durable (fsync and full
# page writes on, as a real server runs), commits not waited for (as SQLite's WAL with synchronous=NORMAL),
# memory for bulk loads and index builds, checkpoints spaced out, and no WAL for standbys.
SERVER_SETTINGS = {
    "fsync": "on", "full_page_writes": "on", "synchronous_commit": "off",
    "shared_buffers": "2GB", "maintenance_work_mem": "1GB", "work_mem": "64MB", "temp_buffers": "64MB",
    "max_wal_size": "16GB", "checkpoint_timeout": "30min", "wal_level": "minimal", "max_wal_senders": "0",
    "wal_buffers": "64MB", "max_parallel_maintenance_workers": "2",
}
# Runs one command; its wall time, the CPU seconds and peak RSS of it and its workers (one JSON line).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "w") as out:
    done = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
                  "rc": done.returncode, "stderr": done.stderr[-2000:]}))
"""


def _proc(pid: int, name: str) -> str | None:
    """/proc/<pid>/<name>, or None when the process has gone."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            return f.read()
    except OSError:
        return None


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, parent, ...)."""
    text = _proc(pid, "stat")
    return text.rsplit(")", 1)[1].split() if text and ")" in text else None


class ServerWatch:
    """The server's CPU seconds and memory while a step runs: the postmaster and its children (backends,
    checkpointer, autovacuum). Memory is the sum of their PSS (shared buffers counted once), sampled."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = None

    def _children(self) -> list[int]:
        return [int(entry) for entry in os.listdir("/proc")
                if entry.isdigit() and (_stat(int(entry)) or [None, None])[1] == str(self.pid)]

    def cpu(self) -> float:
        total = 0.0
        for pid in [self.pid, *self._children()]:
            fields = _stat(pid)
            if fields is None:
                continue
            ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if pid == self.pid else 0)
            total += ticks / os.sysconf("SC_CLK_TCK")
        return total

    def memory_mb(self) -> float:
        pss = (_proc(pid, "smaps_rollup") or "" for pid in [self.pid, *self._children()])
        return sum(int(line.split()[1]) for text in pss for line in text.splitlines() if line.startswith("Pss:")) / 1024

    def __enter__(self) -> ServerWatch:
        import threading

        self.peak_mb, self.start_cpu = 0.0, self.cpu() if self.pid else 0.0
        self._stop = threading.Event()

        def sample() -> None:
            while True:  # a reading at once: a listing may end before the first half second
                self.peak_mb = max(self.peak_mb, self.memory_mb())
                if self._stop.wait(0.5):
                    break

        self._thread = threading.Thread(target=sample, daemon=True)
        if self.pid:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.pid:
            self._thread.join()
            self.cpu_seconds = self.cpu() - self.start_cpu


def measure(argv: list[str], out: Path, server: ServerWatch) -> dict:
    import subprocess
    import sys

    with server:
        done = subprocess.run([sys.executable, "-c", MEASURE, str(out), *argv], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    result["load"] = os.getloadavg()[0]
    if result["rc"] != 0:  # kept in the table as a failure, with relief's own line
        result["error"] = (result["stderr"].strip().splitlines() or ["?"])[-1]
    if server.pid:
        result["server_cpu"], result["server_mb"] = server.cpu_seconds, server.peak_mb
    return result


def steps(folders: list[Path]) -> list[tuple[str, list[str], str]]:
    """(step, relief arguments, target) of the benchmark."""
    return [
        (f"import（{len(folders)} 个城市，--partial）", ["import", *map(str, folders), "--partial", "--as-of", AS_OF,
                                                  "--format", "json"], "以解析为主，不以写库为主"),
        ("scan", ["scan", "--as-of", AS_OF], "≤ 300 s"),
        ("overdue --days 5", ["overdue", "--days", "5", "--as-of", LATE, "--allow-future"], "≤ 1 s"),
        (f"checklist --community {COMMUNITY}", ["checklist", "--community", COMMUNITY, "--as-of", AS_OF], "≤ 1 s"),
        ("report", ["report", "--to", LATE, "--format", "json"], "≤ 1 s"),
        (f"alerts --community {COMMUNITY}", ["alerts", "--community", COMMUNITY, "--format", "json"], "≤ 1 s"),
    ]


def start_server(root: Path) -> tuple[str, str]:
    """A cluster of our own with SERVER_SETTINGS (tools/pg_cluster.sh): (admin address, its folder)."""
    import subprocess

    settings = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
    done = subprocess.run(["bash", str(root / "tools" / "pg_cluster.sh"), "start"], capture_output=True, text=True,
                          check=True, env={**os.environ, "RELIEF_PG_SETTINGS": settings})
    values = dict(part.split("=", 1) for part in done.stdout.split() if "=" in part)
    return values["RELIEF_TEST_PG"], values["PG_CLUSTER_DIR"]


def postmaster(cluster: str | None) -> int | None:
    if cluster is None:
        return None
    return int(Path(cluster, "data", "postmaster.pid").read_text().split()[0])


def run_benchmark(args: argparse.Namespace) -> None:
    import subprocess
    import sys

    root = HERE.parent
    cache = Path(args.cache)
    work = cache / "province-work"
    if not args.from_step:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    # Translations a server keeps between runs (pg.Translations): the run's own folder, empty at first.
    os.environ["RELIEF_CACHE_DIR"] = str(work / "sql-cache")
    shutil.rmtree(work / "sql-cache", ignore_errors=True)
    folders = province(cache, args.cities, args.households, args.seed,
                       reuse=cache / f"city-{args.households}-{args.seed}")
    records = sum(json.loads((f / ".complete").read_text(encoding="utf-8"))["records"] for f in folders)
    own_cluster = None
    admin = args.pg
    if admin is None:
        admin, own_cluster = start_server(root)
    cluster = own_cluster or args.pg_cluster
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        if not args.from_step:
            conn.execute("DROP DATABASE IF EXISTS relief_province")
            conn.execute("CREATE DATABASE relief_province")
        shown = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k in SERVER_SETTINGS}
        version = conn.execute("SHOW server_version").fetchone()[0]
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin)
    targets = {"SQLite": str(work / "province.db"),
               "PostgreSQL": urlunsplit((parts.scheme, parts.netloc, "/relief_province", "", ""))}
    table: dict[str, dict[str, dict]] = {}
    try:
        for number, (name, argv, _) in enumerate(steps(folders), start=1):
            if number < (args.from_step or 1) or number > (args.until_step or number):
                continue
            for store, db in targets.items():
                if number == args.from_step and args.first_step_stores and store not in args.first_step_stores.split(","):
                    continue
                watch = ServerWatch(postmaster(cluster) if store == "PostgreSQL" else None)
                command = [sys.executable, "-m", "relief_cli", *argv, "--db", db]
                result = measure(command, work / "stdout.txt", watch)
                if number > 2:  # a listing: as an officer runs it every day, then, as a note, its first run
                    first, result = result, measure(command, work / "stdout.txt", watch)
                    result["first"] = first["seconds"]
                table.setdefault(name, {})[store] = result
                extra = f"，服务器 CPU {result['server_cpu']:.0f} s、内存 {result['server_mb']:,.0f} MB" if "server_cpu" in result else ""
                print(f"{name} [{store}]: {result['seconds']:.1f} s，relief CPU {result['cpu']:.0f} s、"
                      f"峰值 {result['rss_mb']:,.0f} MB{extra}，负载 {result['load']:.1f}"
                      + (f"，失败：{result['error']}" if "error" in result else ""), flush=True)
                if name.startswith("import"):
                    (work / f"import-{store}.json").write_text((work / "stdout.txt").read_text(encoding="utf-8"),
                                                              encoding="utf-8")
        counts = {}
        for store, db in targets.items():
            from relief_cli.config import load_config
            from relief_cli.store import Store

            with Store(db, load_config(root / "rules.yaml")) as s:
                stored = sum(s.conn.execute(f'SELECT count(*) FROM "src_{src}"').fetchone()[0] for src in s.config.sources)
                alerts = s.conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
            counts[store] = (stored, alerts)
    finally:
        if own_cluster:
            subprocess.run(["bash", str(root / "tools" / "pg_cluster.sh"), "stop", own_cluster], check=False)
    text = render(args, folders, records, table, counts, shown, version)
    print(text)
    results = Path(args.results)
    if args.write:
        old = results.read_text(encoding="utf-8") if results.exists() else ""
        if HEADING in old:
            start = old.index(HEADING)
            end = old.find("\n## ", start + len(HEADING))
            old = old[:start].rstrip("\n") + ("\n\n" + old[end + 1:] if end != -1 else "")
        results.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


HEADING = "## 全省规模：SQLite 与 PostgreSQL 对比"


def render(args: argparse.Namespace, folders: list[Path], records: int, table: dict, counts: dict, shown: dict,
           version: str) -> str:
    import datetime as dt
    import platform
    import sqlite3

    from relief_cli.pg import SCAN_WORK_MEM, SESSION_OPTIONS

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    lines = [
        HEADING, "",
        f"- 测量时间：{dt.datetime.now():%Y-%m-%d %H:%M}；机器：{os.cpu_count()} 核，内存 {mem:.0f} GB，Python "
        f"{platform.python_version()}，SQLite {sqlite3.sqlite_version}，PostgreSQL {version}（同一台机器，经 127.0.0.1 连接）",
        f"- 数据：{len(folders)} 个城市，每个 {args.households:,} 户（{', '.join(CITIES[k][0] for k in range(len(folders)))}，"
        f"各自的行政区划代码、区县名和社区名），共 {records:,} 条记录；各城市的整表按补充名单导入（--partial），"
        "因为每个城市的整表只覆盖本市",
        f"- 入库：SQLite {counts['SQLite'][0]:,} 条、预警 {counts['SQLite'][1]:,} 条；PostgreSQL "
        f"{counts['PostgreSQL'][0]:,} 条、预警 {counts['PostgreSQL'][1]:,} 条",
        f"- 命令：`python benchmarks/province.py --cities {args.cities} --households {args.households}`",
        "- 服务器设置：" + "，".join(f"{k}={v}" for k, v in shown.items()),
        f"- relief 自己的服务器会话另设 {SESSION_OPTIONS.replace('-c ', '').replace(' ', '、')}，预警扫描的事务中 "
        f"work_mem 不低于 {SCAN_WORK_MEM}（`relief_cli/pg.py`）",
        "- 列表（第 3 步起）各运行两次：表中是第二次，即每天使用时的情形；括号内是第一次（服务器上要用的语句第一次由 "
        "relief 翻译成 PostgreSQL 的写法，之后存在本机缓存中，见 README“服务器模式”）",
        "- 峰值内存：relief 进程（含解析子进程中最大的一个）；服务器内存为其全部进程的 PSS 之和（共享缓冲区只算一次），"
        "每 0.5 秒采样；CPU 为用户态加内核态秒数；负载为步骤结束时的 1 分钟平均负载（这台 2 核机器同时在跑其他任务，"
        "负载高时墙钟时间会成倍变长，CPU 秒数受影响较小）",
        "",
        "| 步骤 | 目标 | SQLite 用时（秒） | SQLite 峰值（MB） | PostgreSQL 用时（秒） | relief 峰值（MB） | 服务器内存（MB） | "
        "relief CPU（秒，SQLite / PostgreSQL） | 服务器 CPU（秒） | 负载（SQLite / PostgreSQL） |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    targets = {name: target for name, _, target in steps(folders)}
    for name, by_store in table.items():
        lite, pg = by_store.get("SQLite", {}), by_store.get("PostgreSQL", {})
        lines.append(f"| {name} | {targets.get(name, '')} | {_secs(lite)} | {lite.get('rss_mb', 0):,.0f} | "
                     f"{_secs(pg)} | {pg.get('rss_mb', 0):,.0f} | {pg.get('server_mb', 0):,.0f} | "
                     f"{lite.get('cpu', 0):.1f} / {pg.get('cpu', 0):.1f} | {pg.get('server_cpu', 0):.1f} | "
                     f"{lite.get('load', 0):.1f} / {pg.get('load', 0):.1f} |")
    failed = [f"{name} [{store}]：{r['error']}" for name, by_store in table.items() for store, r in by_store.items() if "error" in r]
    if failed:
        lines += ["", "失败的步骤（relief 的出错信息）：", *(f"- {line}" for line in failed)]
    return "\n".join(lines) + "\n"


def _secs(result: dict) -> str:
    if not result:
        return ""
    first = f"（首次 {result['first']:.2f}）" if "first" in result else ""
    return f"{result['seconds']:.2f}{first}" + ("（失败）" if "error" in result else "")


HERE = Path(__file__).resolve().parent


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="relief 全省规模基准：SQLite 与 PostgreSQL 对比")
    parser.add_argument("--cities", type=int, default=5)
    parser.add_argument("--households", type=int, default=520_000, help="每个城市的户数")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", default=str(HERE / "cache"), help="数据缓存目录（与 run.py 共用参考城市）")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--write", action="store_true", help="把结果写入 RESULTS.md（替换上一次的全省结果）")
    parser.add_argument("--pg", help="已有服务器的管理员地址（默认：用 tools/pg_cluster.sh 按 SERVER_SETTINGS 另起一个）")
    parser.add_argument("--pg-cluster", help="--pg 服务器的数据目录的上级（pg_cluster.sh 的 PG_CLUSTER_DIR），用于测量服务器内存")
    parser.add_argument("--only-city", type=int, help="只生成第 K 个城市（可分几个进程并行生成）")
    parser.add_argument("--from-step", type=int, help="从第 K 步接着测（沿用上次导入的两个数据库；需 --pg 和 --pg-cluster）")
    parser.add_argument("--until-step", type=int, help="测到第 K 步为止（之后可用 --from-step 接着测）")
    parser.add_argument("--first-step-stores", help="--from-step 那一步只测这些存储（逗号分隔：SQLite,PostgreSQL）")
    args = parser.parse_args()
    if args.only_city is not None:
        k = args.only_city
        out = Path(args.cache) / f"province-{args.households}-{args.seed}" / f"city{k}-{CITIES[k][0]}"
        if not (out / ".complete").exists():
            shutil.rmtree(out, ignore_errors=True)
            records = generate_city_k(out, k, args.cities, args.households, args.seed)
            (out / ".complete").write_text(json.dumps({"records": records}), encoding="utf-8")
        return
    run_benchmark(args)


if __name__ == "__main__":
    if len(__import__("sys").argv) == 6 and all(a.isdigit() for a in __import__("sys").argv[2:]):
        # python benchmarks/province.py CACHE CITIES HOUSEHOLDS SEED K (the form started before --only-city)
        import sys

        cache, cities, households, seed, k = Path(sys.argv[1]), *map(int, sys.argv[2:6])
        out = cache / f"province-{households}-{seed}" / f"city{k}-{CITIES[k][0]}"
        if not (out / ".complete").exists():
            shutil.rmtree(out, ignore_errors=True)
            records = generate_city_k(out, k, cities, households, seed)
            (out / ".complete").write_text(json.dumps({"records": records}), encoding="utf-8")
    else:
        main()
