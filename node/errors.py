"""Errors raised by the node, caught at the edge (CLI, HTTP) and turned into clear messages.

    NodeError                    anything a user can fix; str(err) is the message shown
    ├── HomeError                the node home is missing, already exists, or is unreadable
    ├── StoreError               the database cannot be opened, migrated or written
    ├── RecordNotFound           no record with that ref
    ├── ImportRefused            the input file cannot be imported; carries one message per problem
    └── BackupError              a backup cannot be written, or a backup file cannot be restored

Every NodeError carries an exit code so the CLI does not need to know the subclasses.
"""

from __future__ import annotations


class NodeError(Exception):
    """A problem the user can fix; the message says what and how."""

    exit_code = 1


class HomeError(NodeError):
    """The node home folder is missing, already exists, or its config is broken."""


class StoreError(NodeError):
    """The SQLite store cannot be opened, migrated or written."""


class RecordNotFound(NodeError):
    """No record with the requested ref."""


class ImportRefused(NodeError):
    """The input file is refused; nothing was written.

    ``problems`` holds one message per problem (file, line, column, value) so a caseworker
    can fix the spreadsheet in one pass instead of one error at a time.
    """

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BackupError(NodeError):
    """A backup cannot be written, or a backup file is refused (wrong passphrase, altered,
    truncated, too new); the home was not changed."""

    exit_code = 2
