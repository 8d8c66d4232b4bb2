"""The offline install bundle (tools/build_bundle.py, tools/bundle/).

The helpers are tested always and offline. Building a real bundle downloads from the
package index, so that test and the offline install run only with RELIEF_BUNDLE_TESTS=1.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "build_bundle.py"

spec = importlib.util.spec_from_file_location("build_bundle", SCRIPT)
bb = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bb  # dataclasses look their module up there
spec.loader.exec_module(bb)

WIN311, WIN313, LINUX311, LINUX312 = (bb.select_targets([name])[0] for name in (
    "win_amd64-cp311", "win_amd64-cp313", "manylinux_x86_64-cp311", "manylinux_x86_64-cp312"))

needs_bundle = pytest.mark.skipif(os.environ.get("RELIEF_BUNDLE_TESTS") != "1",
                                  reason="downloads from the package index: set RELIEF_BUNDLE_TESTS=1")


def make_wheel(folder: Path, name: str, requires: tuple[str, ...] = ()) -> None:
    """A pure-Python wheel with just the metadata a resolver reads."""
    info = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                     + "".join(f"Requires-Dist: {req}\n" for req in requires))
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")


def applies(requirement: str, target) -> bool:
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate(bb.marker_environment(target))


# --- helpers: always run, offline ---------------------------------------------------------------


def test_reads_only_the_runtime_dependencies(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = [\n  "typer>=0.12",  # a comment\n'
        '  "colorama; sys_platform == \'win32\'",\n]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8"]\n', encoding="utf-8")
    assert bb.read_dependencies(tmp_path / "pyproject.toml") == ["typer>=0.12", "colorama; sys_platform == 'win32'"]


def test_reads_this_projects_dependencies():
    names = {canonicalize_name(Requirement(req).name) for req in bb.read_dependencies(ROOT / "pyproject.toml")}
    assert "typer" in names and "pytest" not in names


def test_targets_cover_windows_and_linux_for_three_pythons():
    assert [t.name for t in bb.select_targets(None)] == [
        "win_amd64-cp311", "win_amd64-cp312", "win_amd64-cp313",
        "manylinux_x86_64-cp311", "manylinux_x86_64-cp312", "manylinux_x86_64-cp313"]
    assert bb.select_targets(["manylinux_x86_64-cp312", "win_amd64-cp311"]) == [WIN311, LINUX312]
    with pytest.raises(bb.BundleError, match="未知的目标平台：win32-cp311"):
        bb.select_targets(["win32-cp311"])


@pytest.mark.parametrize("filename, target, fits", [
    ("rich-15.0.0-py3-none-any.whl", WIN311, True),
    ("openpyxl-3.1.5-py2.py3-none-any.whl", LINUX312, True),
    ("numpy-2.4.6-cp311-cp311-win_amd64.whl", WIN311, True),
    ("numpy-2.4.6-cp311-cp311-win_amd64.whl", WIN313, False),
    ("numpy-2.4.6-cp311-cp311-win_amd64.whl", LINUX311, False),
    ("numpy-2.4.6-cp311-cp311-win32.whl", WIN311, False),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", LINUX311, True),
    ("pyyaml-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", LINUX311, True),
    ("old-1.0-cp311-cp311-manylinux1_x86_64.whl", LINUX311, True),
    ("new-1.0-cp311-cp311-manylinux_2_34_x86_64.whl", LINUX311, False),
    ("musl-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", LINUX311, False),
    ("arm-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", LINUX311, False),
    ("stable-1.0-cp38-abi3-win_amd64.whl", WIN313, True),
    ("stable-1.0-cp312-abi3-manylinux_2_17_x86_64.whl", LINUX311, False),
    ("xlwt-1.3.0.tar.gz", LINUX311, False),
])
def test_wheel_fits_by_filename_tags(filename, target, fits):
    assert bb.wheel_fits(filename, target) is fits


def test_markers_are_evaluated_for_the_target_not_this_machine():
    assert applies('colorama; sys_platform == "win32"', WIN311)
    assert not applies('colorama; sys_platform == "win32"', LINUX311)
    assert applies('tomli; python_version < "3.12"', LINUX311)
    assert not applies('tomli; python_version < "3.12"', WIN313)


def test_pip_failure_names_the_package_without_a_wheel():
    output = ("ERROR: Could not find a version that satisfies the requirement xlwt>=9 (from versions: none)\n"
              "ERROR: No matching distribution found for xlwt>=9\n")
    assert "找不到适用于该平台的 wheel：xlwt>=9" in bb.pip_failure(output)
    assert bb.pip_failure("ERROR: ResolutionImpossible: for help visit …\n") == "pip 出错：ResolutionImpossible: for help visit …"


def test_verify_resolves_from_the_bundle_alone_with_the_targets_markers(tmp_path):
    make_wheel(tmp_path, "relief", ("colorama; sys_platform == 'win32'",))
    assert bb.verify(LINUX311, [tmp_path]) is None
    assert "colorama" in bb.verify(WIN311, [tmp_path])  # colorama is missing, and Windows needs it
    make_wheel(tmp_path, "colorama")
    assert bb.verify(WIN311, [tmp_path]) is None


# --- a real bundle: RELIEF_BUNDLE_TESTS=1 -------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "relief-offline"
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "离线安装包已生成" in result.stdout
    return out


@needs_bundle
def test_bundle_has_a_fitting_wheel_for_every_dependency_of_every_target(bundle):
    assert [whl.name.split("-")[0] for whl in (bundle / "wheels" / "common").glob("*.whl")] == ["relief"]
    requirements = bb.read_dependencies(ROOT / "pyproject.toml")
    for target in bb.TARGETS:
        wheels = [whl.name for whl in (bundle / "wheels" / target.name).iterdir()]
        assert all(bb.wheel_fits(name, target) for name in wheels), target.name
        names = {parse_wheel_filename(name)[0] for name in wheels}
        wanted = {canonicalize_name(Requirement(req).name) for req in requirements if applies(req, target)}
        assert wanted <= names, (target.name, wanted - names)


@needs_bundle
def test_bundle_files_have_the_line_endings_their_systems_need(bundle):
    bat, sh, guide = ((bundle / name).read_bytes() for name in ("install.bat", "install.sh", "使用说明.txt"))
    assert bat.count(b"\n") == bat.count(b"\r\n") > 0
    assert b"\r" not in sh and os.access(bundle / "install.sh", os.X_OK)
    assert guide.startswith(b"\xef\xbb\xbf") and guide.count(b"\n") == guide.count(b"\r\n") > 0
    assert (bundle / "rules.yaml").is_file() and any((bundle / "sample_data").iterdir())


def offline() -> list[str]:
    """`unshare -rn` (no network at all) where this machine allows it."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn"]
    return []


@needs_bundle
@pytest.mark.skipif(not (3, 11) <= sys.version_info[:2] <= (3, 13), reason="the bundle has Python 3.11–3.13")
def test_installs_offline_and_runs(bundle, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_CONSTRAINT="", PIP_NO_INDEX="1",  # this machine's indexes are out of reach
               HOME=str(tmp_path / "home"), PYTHON=sys.executable)
    result = subprocess.run([*offline(), "sh", str(bundle / "install.sh"), str(venv)],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "安装完成" in result.stdout

    relief = venv / "bin" / "relief"
    assert (tmp_path / "home" / ".local" / "bin" / "relief").resolve() == relief.resolve()
    assert subprocess.run([str(relief), "--help"], capture_output=True).returncode == 0
    assert subprocess.run([str(relief), "--version"], capture_output=True, text=True).stdout.startswith("relief ")
    demo = subprocess.run([str(relief), "demo"], cwd=bundle, capture_output=True, text=True)
    assert demo.returncode == 0 and "演示完成" in demo.stdout, demo.stdout + demo.stderr
