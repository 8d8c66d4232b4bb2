"""SQL fragments shared by the kinds: filters, labels and period arithmetic."""

from __future__ import annotations

import json
from typing import Any

# Month number of a 'YYYYMM' period, so month windows are integer ranges.
def month_index(expr: str) -> str:
    return f"(CAST(substr({expr}, 1, 4) AS INTEGER) * 12 + CAST(substr({expr}, 5, 2) AS INTEGER) - 1)"


def age_at(id_expr: str, date_expr: str) -> str:
    """Whole years of age on date_expr, from the birth date inside the ID number."""
    birth = f"(substr({id_expr}, 7, 4) || '-' || substr({id_expr}, 11, 2) || '-' || substr({id_expr}, 13, 2))"
    return (
        f"(CAST(substr({date_expr}, 1, 4) AS INTEGER) - CAST(substr({birth}, 1, 4) AS INTEGER)"
        f" - (substr({date_expr}, 6, 5) < substr({birth}, 6, 5)))"
    )


def where_sql(where: dict[str, tuple[Any, ...]], alias: str, params: dict[str, Any], prefix: str = "w") -> str:
    """AND-ed 'field IN (values)' filters, with the values as JSON parameters."""
    parts = []
    for i, (field_name, values) in enumerate(sorted(where.items())):
        key = f"{prefix}{i}"
        params[key] = json.dumps(list(values), ensure_ascii=False)
        # Whole numbers are compared as numbers (a server will not compare a number with text).
        numbers = values and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        value = "CAST(value AS INTEGER)" if numbers else "value"
        parts.append(f'{alias}."{field_name}" IN (SELECT {value} FROM json_each(:{key}))')
    return "".join(f" AND {p}" for p in parts)


def yuan(fen: int | float | None) -> str:
    """'12,345' or '12,345.60' from an amount in fen; registered as an SQL function."""
    if fen is None:
        return "0"
    fen = int(round(fen))
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}" + (f".{cents:02d}" if cents else "")
