#!/usr/bin/env python3
"""Build an offline install bundle of relief for PCs that cannot reach a package index.

    python tools/build_bundle.py --out dist/relief-offline [--targets win_amd64-cp311 ...] [--zip]

The bundle holds the relief wheel (wheels/common), the runtime dependencies of
pyproject.toml with everything they need as wheels for each target
(wheels/<target>), install.bat / install.sh, a short guide in Chinese,
rules.yaml and sample_data/. Building needs the network; installing does not.
Only the standard library and pip (which does the downloading) are used.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

try:  # pip's vendored `packaging` knows wheel tags; pip itself does the downloading
    from pip._vendor.packaging.tags import compatible_tags, cpython_tags
    from pip._vendor.packaging.utils import InvalidWheelFilename, parse_wheel_filename
except ImportError:
    sys.exit("错误：当前 Python 没有安装 pip，无法生成离线安装包。")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "bundle"

# Wheels for glibc 2.5 up to 2.28 install on Kylin V10, UOS 20 and any newer x86_64 Linux.
MANYLINUX = (*(f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)),
             "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")


@dataclass(frozen=True)
class Target:
    system: str  # "win_amd64" or "manylinux_x86_64": the folder prefix the install scripts look for
    python: str  # "3.11"
    platforms: tuple[str, ...]

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def name(self) -> str:
        return f"{self.system}-{self.abi}"

    @property
    def windows(self) -> bool:
        return self.system.startswith("win")


TARGETS = tuple(Target(system, python, platforms)
                for system, platforms in (("win_amd64", ("win_amd64",)), ("manylinux_x86_64", MANYLINUX))
                for python in ("3.11", "3.12", "3.13"))

GUIDE = """\
relief 离线安装包 使用说明
==========================

本安装包内含 relief 及其全部依赖，安装时不需要联网，也不需要管理员权限。

一、准备
  电脑上需要有 64 位的 Python 3.11、3.12 或 3.13。
  Windows：安装 Python 时勾选“Add python.exe to PATH”。
  Linux（麒麟、统信 UOS 等 x86_64 系统）：需要 python3.11～3.13 及其 venv 模块。

二、安装（先把整个文件夹解压到本机）
  Windows：双击 install.bat
  Linux：在本文件夹打开终端，运行 sh install.sh
  默认安装到 %LOCALAPPDATA%\\relief\\venv（Windows）或 ~/.local/share/relief/venv（Linux）；
  也可以把安装目录写在命令后面，例如 install.bat D:\\relief。

三、试用
  在本文件夹打开命令提示符（Windows：在文件夹地址栏输入 cmd 后回车）或终端，运行：
    relief --version   显示版本号，确认安装成功
    relief demo        用本文件夹的样例数据演示完整流程（全部为虚构数据）
    relief --help      查看全部命令
  演示只在本文件夹生成 relief-demo.db 等演示文件，不会改动正式数据库 relief.db。

四、常见问题
  · 提示没有找到 Python：先安装 Python 3.11～3.13（64 位），再重新运行安装程序。
  · 提示找不到 relief 命令：关掉窗口重新打开；或使用安装完成时显示的完整路径。
  · 重新安装或升级：用新的安装包再运行一次安装程序即可。
  · 卸载：删除安装目录即可。
"""


class BundleError(Exception):
    """A step failed; the message (in Chinese) tells the user what happened."""


def read_dependencies(pyproject: Path) -> list[str]:
    """The runtime requirements: `[project] dependencies`, without any extras."""
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"].get("dependencies", []))


def select_targets(names: list[str] | None) -> list[Target]:
    """The targets named on the command line (all when none are), in TARGETS order."""
    known = {target.name: target for target in TARGETS}
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        raise BundleError(f"未知的目标平台：{'、'.join(unknown)}；可选：{'、'.join(known)}")
    return [target for target in TARGETS if not names or target.name in names]


@functools.cache
def supported_tags(target: Target) -> frozenset:
    version = tuple(int(part) for part in target.python.split("."))
    return frozenset((*cpython_tags(version, [target.abi], target.platforms),
                      *compatible_tags(version, target.abi, target.platforms)))


def wheel_fits(filename: str, target: Target) -> bool:
    """Whether the wheel file `filename` (by its tags) installs on `target`."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return False
    return not tags.isdisjoint(supported_tags(target))


def marker_environment(target: Target) -> dict[str, str]:
    """Environment-marker values of `target` (PEP 508); the ones not set here are the host's.

    The patch level is unknown, so python_full_version is taken as x.y.0.
    """
    return {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": target.python,
        "python_full_version": f"{target.python}.0",
        "implementation_version": f"{target.python}.0",
        "os_name": "nt" if target.windows else "posix",
        "sys_platform": "win32" if target.windows else "linux",
        "platform_system": "Windows" if target.windows else "Linux",
        "platform_machine": "AMD64" if target.windows else "x86_64",
    }


# Even with --platform, pip evaluates markers such as `colorama; sys_platform == "win32"`
# for the machine it runs on (pypa/pip#11664), which would leave Windows-only
# dependencies out. So pip runs with the target's marker values patched in.
PIP_FOR_TARGET = """\
import json, sys
from pip._vendor.packaging import markers
host, target = markers.default_environment(), json.loads(sys.argv.pop(1))
markers.default_environment = lambda: {**host, **target}
from pip._internal.cli.main import main
sys.exit(main())
"""


def run_pip_for(target: Target, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", target.python,
               "--abi", target.abi, *(f"--platform={platform}" for platform in target.platforms)]
    command = [sys.executable, "-c", PIP_FOR_TARGET, json.dumps(marker_environment(target)), *args, *options]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def pip_failure(output: str) -> str:
    """What pip could not do, from its output: the requirement it found no wheel for, if that was it."""
    missing = re.findall(r"No matching distribution found for (\S+)", output)
    if missing:
        return f"找不到适用于该平台的 wheel：{missing[-1]}（可能只有源码包，或没有这个 Python 版本的 wheel）"
    errors = [line.removeprefix("ERROR: ") for line in output.splitlines() if line.startswith("ERROR:")]
    return f"pip 出错：{errors[-1] if errors else output.strip()[-500:]}"


def build_relief_wheel(dest: Path) -> None:
    # From a clean copy: setuptools would ship stale files left in ./build, and litter the work tree.
    # Tests and benchmarks (whose cache can be large) are not part of the wheel.
    junk = shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "benchmarks")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "relief")
        shutil.copytree(ROOT, source, ignore=junk)
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--progress-bar", "off",
                                 "-w", str(dest), str(source)], capture_output=True, text=True)
    if result.returncode:
        raise BundleError(f"构建 relief 的 wheel 失败：\n{result.stdout}{result.stderr}")


def download(target: Target, requirements: list[str], dest: Path) -> str | None:
    """Download wheels of `requirements` and all they depend on for `target`; None, or what failed."""
    result = run_pip_for(target, ["download", "--progress-bar", "off", "-d", str(dest), *requirements])
    return pip_failure(result.stdout + result.stderr) if result.returncode else None


def verify(target: Target, wheel_dirs: list[Path]) -> str | None:
    """Resolve relief from the bundle alone, as the install scripts will; None, or what is wrong.

    `pip download` (not `install --dry-run`, which older pip refuses with --platform) copies what
    it resolves, so the files it picked can be checked against the target's tags.
    """
    isolated = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    isolated["PIP_CONFIG_FILE"] = os.devnull  # no index, no find-links but the bundle's
    with tempfile.TemporaryDirectory() as tmp:
        links = [arg for folder in wheel_dirs for arg in ("--find-links", str(folder))]
        result = run_pip_for(target, ["download", "--no-index", "--quiet", "-d", tmp, *links, "relief"], env=isolated)
        if result.returncode:
            return "离线解析失败，" + pip_failure(result.stdout + result.stderr)
        files = sorted(path.name for path in Path(tmp).iterdir())
    misfits = [name for name in files if not wheel_fits(name, target)]
    return f"这些文件不适用于该平台：{'、'.join(misfits)}" if misfits else None


def write_text(path: Path, text: str, newline: str, bom: bool = False) -> None:
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8", newline=newline)


def copy_extras(out: Path) -> None:
    """The install scripts (line endings fixed whatever the checkout did), the guide and the demo data."""
    for name, newline in (("install.bat", "\r\n"), ("install.sh", "\n")):
        write_text(out / name, (TEMPLATES / name).read_text(encoding="utf-8"), newline)
    (out / "install.sh").chmod(0o755)
    write_text(out / "使用说明.txt", GUIDE, "\r\n", bom=True)  # CRLF and a BOM: every Notepad shows it right
    shutil.copy2(ROOT / "rules.yaml", out / "rules.yaml")
    shutil.copytree(ROOT / "sample_data", out / "sample_data", ignore=shutil.ignore_patterns("__pycache__", "~$*"))


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def build(out: Path, targets: list[Target], make_zip: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"输出目录 {out} 已存在且不为空，请先删除它或换一个目录。")
    requirements = read_dependencies(ROOT / "pyproject.toml")
    print(f"运行时依赖（pyproject.toml）：{'、'.join(requirements)}")
    common = out / "wheels" / "common"
    print("正在构建 relief 的 wheel …", flush=True)
    build_relief_wheel(common)

    failures = []
    for target in targets:
        print(f"正在下载 {target.name} 的依赖 …", flush=True)
        folder = out / "wheels" / target.name
        problem = download(target, requirements, folder) or verify(target, [common, folder])
        if problem:
            failures.append(f"  {target.name}：{problem}")
    if failures:
        raise BundleError("以下目标平台无法生成离线安装包：\n" + "\n".join(failures))

    copy_extras(out)
    print(f"\n离线安装包已生成：{out}")
    print(f"  目标平台：{'、'.join(target.name for target in targets)}")
    wheels = list((out / "wheels").rglob("*.whl"))
    for folder in sorted(out.glob("wheels/*")):
        print(f"    {folder.name}：{len(list(folder.glob('*.whl')))} 个 wheel，{megabytes(folder_size(folder))}")
    print(f"  wheel 文件共 {len(wheels)} 个；安装包总大小 {megabytes(folder_size(out))}")
    if make_zip:
        archive = Path(shutil.make_archive(str(out), "zip", out.parent, out.name))
        print(f"  压缩包：{archive}（{megabytes(archive.stat().st_size)}）")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the offline install bundle of relief.")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to create, e.g. dist/relief-offline")
    parser.add_argument("--targets", nargs="+", metavar="TARGET",
                        help="build only these targets (default: all): " + ", ".join(t.name for t in TARGETS))
    parser.add_argument("--zip", action="store_true", help="also write <out>.zip")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        build(args.out.resolve(), select_targets(args.targets), args.zip)
    except BundleError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    print(f"  用时 {time.monotonic() - started:.0f} 秒")
    return 0


if __name__ == "__main__":
    sys.exit(main())
