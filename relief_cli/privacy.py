"""Privacy by default: owner-only files, masking, and cells that can never be formulas."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .values import mask_id, mask_name, mask_phone

# OWASP CSV/XLSX injection: text starting with these is taken as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def private_open(path: Path, mode: str = "wb", encoding: str | None = None) -> IO[Any]:
    """Open a file for writing that only its owner can read, whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding=encoding, newline="" if "b" not in mode else None)


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
