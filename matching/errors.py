"""Errors of the matching package, caught at the edge (CLI, HTTP) and shown as one clear line.

    MatchingError                 base: matching cannot go on with the data it was given
    ├── LexiconError              a variant or word list (bundled or the admin's) cannot be read
    └── KeySetError               a key set version or key type this node does not know

Records themselves never raise: a messy or empty cell only means fewer match keys.
"""

from __future__ import annotations


class MatchingError(Exception):
    """Matching cannot go on; the message says what to fix."""

    exit_code = 1


class LexiconError(MatchingError):
    """A name or place list cannot be read (missing file, not UTF-8, a malformed line)."""


class KeySetError(MatchingError):
    """A key set version or key type that this node's matching code does not know."""
