"""Small-cell suppression of a two-way table of counts with its margins (pure; no I/O).

Why: a count of 1 to k−1 people from one district can point at a person. Publishing only counts
of 0 or at least k is *primary* suppression; *secondary* (complementary) suppression then hides
enough other cells that no hidden cell can be worked out from the published ones and the totals.

Method (the classic "hypercube"-free heuristic for 2-D tables, see docs/directory.md):

1. Treat the table with its margins as an (R+1)×(C+1) grid: row totals form an extra column,
   column totals an extra row, the grand total their corner. Every row and every column of that
   grid is one linear equation (the cells sum to the margin).
2. Hide every count in 1..k−1, margins included (primary).
3. Repeat until nothing changes:
   a. any line (row or column of the grid) with exactly one hidden cell gets a second one: the
      smallest published cell of that line (non-zero cells first, so the hidden value is not
      trivially bounded);
   b. any hidden cell that is a *bridge* of the bipartite graph rows–columns whose edges are the
      hidden cells lies on no cycle, and exactly those cells are determined by the equations
      (the solutions differ by cycles); for one bridge, hide the smallest published cell that
      joins its two sides, which puts it on a cycle.

At the fixed point every line with a hidden cell has at least two and no hidden cell is a
bridge, so no hidden cell is determined by the published cells and totals, not even by linear
combinations of the equations (tests/node/directory/test_suppression.py checks this by brute force).
It does not hide that a row exists (a district's name appears when it has any record) and does
not bound the range a hidden cell can take (interval disclosure); docs/directory.md, "Limits".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DEFAULT_K = 10

Cell = tuple[int, int]


@dataclass(frozen=True)
class SuppressedTable:
    """The published form: None where a count is hidden."""

    cells: list[list[int | None]]
    row_totals: list[int | None]
    column_totals: list[int | None]
    total: int | None

    def hidden_count(self) -> int:
        values = [v for row in self.cells for v in row] + self.row_totals + self.column_totals
        return sum(v is None for v in [*values, self.total])


def grid(cells: list[list[int]]) -> list[list[int]]:
    """The table with its margins: row totals as the last column, column totals the last row."""
    rows = [[*row, sum(row)] for row in cells]
    width = len(cells[0]) if cells else 0
    last = [sum(row[j] for row in rows) for j in range(width + 1)]
    return [*rows, last]


def suppress(cells: list[list[int]], k: int = DEFAULT_K) -> SuppressedTable:
    """Primary and secondary suppression of ``cells`` (R×C non-negative counts, R, C ≥ 1)."""
    if k < 1:
        raise ValueError("k is at least 1")
    if not cells or not cells[0] or any(len(r) != len(cells[0]) for r in cells):
        raise ValueError("a table has at least one row and one column, all rows equally long")
    if any(type(v) is not int or v < 0 for row in cells for v in row):
        raise ValueError("counts are non-negative integers")
    full = grid(cells)
    hidden = hidden_cells(full, k)
    rows, cols = len(cells), len(cells[0])

    def shown(i: int, j: int) -> int | None:
        return None if (i, j) in hidden else full[i][j]

    return SuppressedTable(
        cells=[[shown(i, j) for j in range(cols)] for i in range(rows)],
        row_totals=[shown(i, cols) for i in range(rows)],
        column_totals=[shown(rows, j) for j in range(cols)],
        total=shown(rows, cols),
    )


def hidden_cells(full: list[list[int]], k: int) -> set[Cell]:
    """The cells of a margin grid (see ``grid``) to hide: primary, then secondary to a fixed
    point."""
    n_rows, n_cols = len(full), len(full[0])
    hidden = {(i, j) for i in range(n_rows) for j in range(n_cols) if 1 <= full[i][j] < k}

    def cost(cell: Cell) -> tuple:
        value = full[cell[0]][cell[1]]
        margin = cell[0] == n_rows - 1 or cell[1] == n_cols - 1
        return (value == 0, value, margin, cell)

    while True:
        lonely = _lonely_line(hidden, n_rows, n_cols)
        if lonely is not None:
            choices = [c for c in lonely if c not in hidden]
            hidden.add(min(choices, key=cost))
            continue
        bridge = _find_bridge(hidden)
        if bridge is None:
            return hidden
        side_of_row, side_of_col = _sides(hidden - {bridge}, bridge)
        choices = [
            (i, j)
            for i in range(n_rows)
            for j in range(n_cols)
            if (i, j) not in hidden
            and side_of_row.get(i) is not None
            and side_of_col.get(j) is not None
            and side_of_row[i] != side_of_col[j]
        ]
        hidden.add(min(choices, key=cost))


def _lonely_line(hidden: set[Cell], n_rows: int, n_cols: int) -> list[Cell] | None:
    """The cells of the first row or column that holds exactly one hidden cell, if any."""
    for i in range(n_rows):
        if sum(1 for (r, _) in hidden if r == i) == 1:
            return [(i, j) for j in range(n_cols)]
    for j in range(n_cols):
        if sum(1 for (_, c) in hidden if c == j) == 1:
            return [(i, j) for i in range(n_rows)]
    return None


def _adjacency(edges: set[Cell]) -> dict[tuple[str, int], list[tuple[str, int]]]:
    adjacent: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for i, j in edges:
        adjacent.setdefault(("r", i), []).append(("c", j))
        adjacent.setdefault(("c", j), []).append(("r", i))
    return adjacent


def _reachable(edges: set[Cell], start: tuple[str, int]) -> set[tuple[str, int]]:
    adjacent = _adjacency(edges)
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in adjacent.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _find_bridge(hidden: set[Cell]) -> Cell | None:
    """A hidden cell on no cycle of hidden cells (so the equations determine it), or None."""
    for cell in sorted(hidden):
        if ("c", cell[1]) not in _reachable(hidden - {cell}, ("r", cell[0])):
            return cell
    return None


def _sides(edges: set[Cell], bridge: Cell) -> tuple[dict[int, int], dict[int, int]]:
    """Which side (0: the bridge's row's, 1: its column's) each row and column is on."""
    rows: dict[int, int] = {}
    cols: dict[int, int] = {}
    for side, start in ((0, ("r", bridge[0])), (1, ("c", bridge[1]))):
        for kind, index in _reachable(edges, start):
            (rows if kind == "r" else cols)[index] = side
    return rows, cols


__all__ = ["DEFAULT_K", "SuppressedTable", "grid", "hidden_cells", "suppress"]
