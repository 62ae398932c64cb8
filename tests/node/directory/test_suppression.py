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

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.directory.suppression import SuppressedTable, grid, suppress
from node.testing.oracles import determined_by_linear_algebra, learned_by_peeling


def published_grid(table: SuppressedTable) -> list[list[int | None]]:
    rows = [[*cells, total] for cells, total in zip(table.cells, table.row_totals, strict=True)]
    return [*rows, [*table.column_totals, table.total]]


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
