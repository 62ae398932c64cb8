"""Brute-force attackers of a published table: which hidden cells can be worked out by peeling
lines with one unknown, or by any linear combination of the row and column equations.
directory/suppression.py must leave them nothing; tests check it."""

from __future__ import annotations

from fractions import Fraction


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
