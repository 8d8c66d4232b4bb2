"""PDFs of the printed workbooks, made by LibreOffice (soffice) when it is installed.

LibreOffice runs headless with a profile of its own in a private scratch folder, so it neither
waits for nor disturbs a LibreOffice the user has open; its output is moved into place
owner-only and renamed into place, like every file relief writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .privacy import SPILL_PREFIX, OutputProblem
from .xlsx import replace_private

NOT_INSTALLED = ("没有找到 LibreOffice（soffice），无法生成 PDF。请安装 LibreOffice（https://zh-cn.libreoffice.org），"
                 "或用 --xlsx 导出工作簿后在 Excel、WPS 中打印；如已安装，请设置环境变量 RELIEF_SOFFICE 指向 soffice 程序")
TIMEOUT_SECONDS = 600
WINDOWS_PLACES = (r"C:\Program Files\LibreOffice\program\soffice.exe", r"C:\Program Files (x86)\LibreOffice\program\soffice.exe")


def find_soffice() -> str | None:
    """RELIEF_SOFFICE, else soffice or libreoffice on the PATH, else where the Windows installer puts it."""
    given = os.environ.get("RELIEF_SOFFICE")
    if given:
        return given if Path(given).is_file() else None
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in WINDOWS_PLACES if Path(p).is_file()), None)


def write_pdf(target: Path, write_workbook: Callable[[Path], object]) -> None:
    """Write the workbook into a scratch folder with `write_workbook`, convert it and move the PDF
    to `target`. Raises OutputProblem when LibreOffice is missing or fails."""
    soffice = find_soffice()
    if soffice is None:
        raise OutputProblem(NOT_INSTALLED)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-pdf-"))
    try:
        source = scratch / "打印.xlsx"
        write_workbook(source)
        profile = (scratch / "profile").resolve().as_uri()
        try:
            done = subprocess.run(
                [soffice, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--convert-to", "pdf",
                 "--outdir", str(scratch), str(source)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise OutputProblem(f"LibreOffice 转换 PDF 超过 {TIMEOUT_SECONDS // 60} 分钟仍未完成，已放弃") from None
        except OSError:
            raise OutputProblem(NOT_INSTALLED) from None
        made = source.with_suffix(".pdf")
        if done.returncode != 0 or not made.is_file():
            raise OutputProblem(f"LibreOffice 未能生成 PDF（退出码 {done.returncode}）；可先用 --xlsx 导出工作簿再手工打印")
        with made.open("rb") as src:
            replace_private(target, lambda out: shutil.copyfileobj(src, out))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
