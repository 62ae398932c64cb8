"""Published statistics tables: the wire form of a node's suppressed counts (``stats-table``).

    {"k": 10, "computed_at": Unix seconds,
     "tables": [{"name": "sex", "rows": ["F", "M", …], "columns": ["missing", "found"],
                 "cells": [[12, null], …], "row_totals": [20, …], "column_totals": [40, 31],
                 "total": 71}, …]}

``null`` is a suppressed count. A receiving node refuses a table whose shape is wrong or that
publishes a count between 1 and k−1: small-cell suppression is the sender's duty, and a node
that breaks it must not have its table passed on or summed.
"""

from __future__ import annotations

import re
from typing import Any

MAX_TABLES = 20
MAX_ROWS = 500
MAX_COLUMNS = 20
MAX_K = 1000
TABLE_FIELDS = frozenset(
    {"name", "rows", "columns", "cells", "row_totals", "column_totals", "total"}
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _label(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 80


def _count_ok(value: Any, k: int) -> bool:
    return value is None or (type(value) is int and (value == 0 or k <= value < 2**40))


def _table_ok(raw: Any, k: int) -> bool:
    if not isinstance(raw, dict) or set(raw) != TABLE_FIELDS:
        return False
    rows, columns, cells = raw["rows"], raw["columns"], raw["cells"]
    if not (
        isinstance(raw["name"], str)
        and _NAME.match(raw["name"])
        and isinstance(rows, list)
        and 1 <= len(rows) <= MAX_ROWS
        and isinstance(columns, list)
        and 1 <= len(columns) <= MAX_COLUMNS
        and all(_label(x) for x in rows + columns)
        and len(set(rows)) == len(rows)
        and len(set(columns)) == len(columns)
        and isinstance(cells, list)
        and len(cells) == len(rows)
        and all(isinstance(r, list) and len(r) == len(columns) for r in cells)
        and isinstance(raw["row_totals"], list)
        and len(raw["row_totals"]) == len(rows)
        and isinstance(raw["column_totals"], list)
        and len(raw["column_totals"]) == len(columns)
    ):
        return False
    values = [v for r in cells for v in r] + raw["row_totals"] + raw["column_totals"]
    return all(_count_ok(v, k) for v in [*values, raw["total"]])


def check_published(raw: Any) -> bool:
    """True for a well-formed set of published tables with no count between 1 and k−1."""
    return (
        isinstance(raw, dict)
        and set(raw) == {"k", "computed_at", "tables"}
        and type(raw["k"]) is int
        and 2 <= raw["k"] <= MAX_K
        and type(raw["computed_at"]) is int
        and 0 <= raw["computed_at"] < 2**40
        and isinstance(raw["tables"], list)
        and len(raw["tables"]) <= MAX_TABLES
        and len({t.get("name") for t in raw["tables"] if isinstance(t, dict)}) == len(raw["tables"])
        and all(_table_ok(t, raw["k"]) for t in raw["tables"])
    )


__all__ = ["check_published"]
