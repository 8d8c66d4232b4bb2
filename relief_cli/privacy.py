"""Privacy by default: owner-only files, masking, and cells that can never be formulas."""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .values import mask_id, mask_name, mask_phone

# OWASP CSV/XLSX injection: text starting with these is taken as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


class OutputProblem(Exception):
    """A file relief was asked to write cannot be written; the message is one Chinese sentence."""


def check_output(path: Path, suffix: str = ".xlsx") -> None:
    """Refuse an export target before any work is done: wrong kind of name, or a folder."""
    if path.is_symlink():
        raise OutputProblem(f"{path} 是一个链接（快捷方式），relief 不向链接写入，请换一个文件名")
    if path.is_dir():
        raise OutputProblem(f"{path} 是一个文件夹，请写出文件名，例如 {path / ('导出' + suffix)}")
    if path.suffix.lower() != suffix:
        raise OutputProblem(f"{path}：导出文件的扩展名应为 {suffix}，例如 {path.with_suffix(suffix).name}")


def write_problem(path: Path, e: OSError) -> OutputProblem:
    """The reasons an office meets weekly, in words an officer can act on."""
    if isinstance(e, PermissionError):
        reason = "文件正被其他程序（如 Excel、WPS）打开，或没有写入权限；请关闭该文件或换一个位置后重试"
    elif isinstance(e, IsADirectoryError):
        reason = "这是一个文件夹，请写出文件名"
    elif isinstance(e, (NotADirectoryError, FileExistsError)) or e.errno == errno.ENOENT:
        reason = "所在的文件夹无法创建（路径中有同名文件，或盘符不存在）"
    elif e.errno == errno.ENOSPC:
        reason = "磁盘空间不足"
    elif e.errno == errno.EROFS:
        reason = "磁盘是只读的"
    else:
        reason = "系统拒绝写入（请检查路径和权限）"
    return OutputProblem(f"无法写入 {path}：{reason}")


def private_open(path: Path, mode: str = "wb", encoding: str | None = None) -> IO[Any]:
    """Open a file for writing that only its owner can read, whatever the umask.

    Windows has no owner-only mode bits (os.fchmod does not exist there): the file
    inherits the ACL of the folder, which in the user's profile is owner-only already.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as e:
        raise write_problem(path, e) from None
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding=encoding, newline="" if "b" not in mode else None)


# Temporary folders of relief (import spills, openpyxl's scratch rows) carry the pid after this prefix,
# so that a later run can remove those of a process that was killed (importer.remove_stale_spills).
SPILL_PREFIX = "relief-import-"


def process_alive(pid: int) -> bool:
    """Whether a process exists (to tell files of a killed relief from those of a running one)."""
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists, it is not ours
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)  # POSIX: signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def csv_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: formula-like text gets a leading apostrophe."""
    return "'" + value if is_formula_like(value) else value


@dataclass(frozen=True)
class Masker:
    """Masks personal data in output unless --show-pii was given."""

    show_pii: bool = False

    def id_no(self, value: str | None) -> str | None:
        return value if self.show_pii or not value else mask_id(value)

    def phone(self, value: str | None) -> str | None:
        return value if self.show_pii or not value else mask_phone(value)

    def name(self, value: str | None) -> str | None:
        return value if self.show_pii or not value else mask_name(value)
