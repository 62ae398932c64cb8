"""Small-cell suppression: no published count lies in 1..k−1, and no hidden count can be worked
out from what is published, checked by brute force over every small table and by property tests.

Two attackers are simulated on the margin grid (cells, row totals, column totals, grand total):
- *peeling*: a hidden cell is learned when it is the only unknown of a row or column equation,
  and learned cells help learn more, to a fixed point (the subtraction a reader does by hand);
- *linear algebra*: a hidden cell is determined when its unit vector lies in the row space of
  the equations restricted to the hidden cells (any combination of row and column equations).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.directory.suppression import SuppressedTable, grid, suppress


def published_grid(table: SuppressedTable) -> list[list[int | None]]:
    rows = [[*cells, total] for cells, total in zip(table.cells, table.row_totals, strict=True)]
    return [*rows, [*table.column_totals, table.total]]


def lines(n_rows: int, n_cols: int) -> list[list[tuple[int, int]]]:
    return [[(i, j) for j in range(n_cols)] for i in range(n_rows)] + [
        [(i, j) for i in range(n_rows)] for j in range(n_cols)
    ]


def learned_by_peeling(shown: list[list[int | None]]) -> set[tuple[int, int]]:
    known = {(i, j) for i, row in enumerate(shown) for j, v in enumerate(row) if v is not None}
    hidden = {(i, j) for i, row in enumerate(shown) for j, v in enumerate(row) if v is None}
    learned: set[tuple[int, int]] = set()
    changed = True
    while changed:
        changed = False
        for line in lines(len(shown), len(shown[0])):
            unknown = [c for c in line if c not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                learned.add(unknown[0])
                changed = True
    return learned & hidden


def rank(matrix: list[list[Fraction]]) -> int:
    m = [row[:] for row in matrix]
    r = 0
    for col in range(len(m[0]) if m else 0):
        pivot = next((i for i in range(r, len(m)) if m[i][col] != 0), None)
        if pivot is None:
            continue
        m[r], m[pivot] = m[pivot], m[r]
        for i in range(len(m)):
            if i != r and m[i][col] != 0:
                factor = m[i][col] / m[r][col]
                m[i] = [a - factor * b for a, b in zip(m[i], m[r], strict=True)]
        r += 1
    return r


def determined_by_linear_algebra(shown: list[list[int | None]]) -> set[tuple[int, int]]:
    """In the grid, each row's cells sum to its last cell and each column's to its last cell;
    with the last row/column negated every line sums to zero (see node/directory/suppression.py)."""
    n_rows, n_cols = len(shown), len(shown[0])
    hidden = [(i, j) for i in range(n_rows) for j in range(n_cols) if shown[i][j] is None]
    if not hidden:
        return set()

    def sign(i: int, j: int) -> int:
        return -1 if (i == n_rows - 1) != (j == n_cols - 1) else 1

    equations = [
        [Fraction(sign(*c)) if c in line else Fraction(0) for c in hidden]
        for line in lines(n_rows, n_cols)
    ]
    base = rank(equations)
    found = set()
    for index, cell in enumerate(hidden):
        unit = [Fraction(int(i == index)) for i in range(len(hidden))]
        if rank([*equations, unit]) == base:
            found.add(cell)
    return found


def check(cells: list[list[int]], k: int) -> SuppressedTable:
    table = suppress(cells, k)
    shown = published_grid(table)
    full = grid(cells)
    for i, row in enumerate(shown):
        for j, value in enumerate(row):
            assert value is None or value == full[i][j]
            assert value is None or not 1 <= value < k, (cells, shown)
    assert learned_by_peeling(shown) == set(), (cells, shown)
    assert determined_by_linear_algebra(shown) == set(), (cells, shown)
    return table


@pytest.mark.parametrize(
    ("shape", "values"),
    [((1, 2), (0, 1, 9, 10, 25)), ((2, 2), (0, 1, 5, 10, 20)), ((2, 3), (0, 3, 12))],
    ids=["1x2", "2x2", "2x3"],
)
def test_every_small_table_has_no_small_or_derivable_cell(shape, values):
    rows, cols = shape
    for flat in itertools.product(values, repeat=rows * cols):
        check([list(flat[r * cols : (r + 1) * cols]) for r in range(rows)], k=10)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda rows: st.integers(1, 4).flatmap(
            lambda cols: st.lists(
                st.lists(st.integers(0, 40), min_size=cols, max_size=cols),
                min_size=rows,
                max_size=rows,
            )
        )
    ),
    st.integers(2, 15),
)
def test_random_tables_have_no_small_or_derivable_cell(cells, k):
    check(cells, k)


def test_a_table_of_large_counts_is_published_whole():
    table = check([[12, 30], [45, 10]], k=10)
    assert table.hidden_count() == 0
    assert table.row_totals == [42, 55] and table.column_totals == [57, 40] and table.total == 97


def test_one_small_cell_hides_a_rectangle_of_cells():
    table = check([[3, 30, 11], [45, 10, 20], [50, 60, 70]], k=10)
    assert table.cells[0][0] is None
    assert table.hidden_count() >= 4
    # The smallest complements are chosen: 10 (row 2 of column 2) and 11.
    assert table.cells[1][1] is None or table.cells[0][2] is None


def test_a_small_total_is_hidden_too():
    table = check([[4, 3]], k=10)
    assert table.total is None and table.row_totals == [None]


def test_the_brute_force_attackers_do_find_an_unprotected_cell():
    """The checks above would pass vacuously if the attackers could never learn anything."""
    shown = [[None, 30, 33], [45, 10, 55], [48, 40, 88]]
    assert learned_by_peeling(shown) == {(0, 0)}
    bridge = [[None, None, 33], [None, None, 55], [48, 40, None]]  # corner cell on no cycle
    assert (2, 2) in determined_by_linear_algebra(bridge)


@pytest.mark.parametrize(
    "cells",
    [[], [[]], [[1, 2], [3]], [[-1, 2]], [[1.5, 2]]],
    ids=["empty", "no-col", "ragged", "neg", "float"],
)
def test_bad_tables_are_refused(cells):
    with pytest.raises(ValueError):
        suppress(cells, 10)
