"""Errors raised by the node, caught at the edge (CLI, HTTP) and turned into clear messages.

    NodeError                    anything a user can fix; str(err) is the message shown
    ├── HomeError                the node home is missing, already exists, or is unreadable
    ├── StoreError               the database cannot be opened, migrated or written
    ├── RecordNotFound           no record with that ref
    ├── ImportRefused            the input file cannot be imported; carries one message per problem
    │   └── UploadTooLarge       an uploaded register is over the node's size limit
    ├── UserError                a user cannot be added or changed (bad name, weak password, …)
    ├── LoginFailed              wrong name or password, or the account is disabled
    ├── LoginThrottled           too many failed logins for this name just now
    ├── Forbidden                the user's role does not allow this
    ├── ReviewRefused            a decision that the match's state does not allow
    │   └── MatchNotFound        no match with that id
    ├── BackupError              a backup cannot be written, or a backup file cannot be restored
    ├── FederationBusy           what is prepared for a peer kept changing under another process
    └── NotSettled               'sync --wait' timed out with work still pending

Every NodeError carries an exit code for the CLI and an HTTP status for the web UI, so neither
edge needs to know the subclasses.
"""

from __future__ import annotations

from keys import KeysError
from matching import MatchingError
from protocol.errors import ProtocolError


class NodeError(Exception):
    """A problem the user can fix; the message says what and how."""

    exit_code = 1
    http_status = 400


class HomeError(NodeError):
    """The node home folder is missing, already exists, or its config is broken."""


class StoreError(NodeError):
    """The SQLite store cannot be opened, migrated or written."""


class RecordNotFound(NodeError):
    """No record with the requested ref."""

    http_status = 404


class ImportRefused(NodeError):
    """The input file is refused; nothing was written.

    ``problems`` holds one message per problem (file, line, column, value) so a caseworker
    can fix the spreadsheet in one pass instead of one error at a time.
    """

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UserError(NodeError):
    """A user cannot be added or changed as asked; nothing was changed."""

    exit_code = 2


class UploadTooLarge(ImportRefused):
    """A register uploaded in the web UI is larger than ``[web] max_upload_mb``."""

    http_status = 413

    def __init__(self, message: str):
        super().__init__([message])


class LoginFailed(NodeError):
    """Wrong user name or password, or a disabled account: one message for all, on purpose.

    ``pause``: seconds the web UI holds back this answer (an address that failed often)."""

    http_status = 401

    def __init__(self, message: str, *, pause: float = 0.0):
        super().__init__(message)
        self.pause = pause


class LoginThrottled(NodeError):
    """Too many failed logins for this user name (from this address, or from all) just now.

    ``retry_after``: seconds until the next attempt is allowed (the Retry-After header)."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 0):
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(NodeError):
    """The user's role does not allow this page or action."""

    http_status = 403


class ReviewRefused(NodeError):
    """A decision the match's current state does not allow (or a note is missing)."""

    exit_code = 2
    http_status = 409


class MatchNotFound(ReviewRefused):
    """No match with that id on this node."""

    http_status = 404


class BackupError(NodeError):
    """A backup cannot be written, or a backup file is refused (wrong passphrase, altered,
    truncated, too new); the home was not changed."""

    exit_code = 2


class FederationBusy(NodeError):
    """Another process kept changing what was being prepared for a peer; nothing was queued."""

    http_status = 503


class NotSettled(NodeError):
    """The network did not settle within the time asked for; the message says what waits."""


# Every package's user-facing error, caught at the edges (the CLI and the web UI); a package's
# base error is added here when the package is.
USER_ERRORS: tuple[type[Exception], ...] = (NodeError, KeysError, MatchingError, ProtocolError)
