"""What every CLI command shares: the chosen home, opening the store, and the error edge.

Errors from any package are turned into one line on stderr and an exit code here, so no
traceback reaches a user (set TAFUTA_DEBUG=1 to see one when reporting a bug).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from node.errors import USER_ERRORS, ImportRefused
from node.home import Home, open_home
from node.store.db import Store


@dataclass(frozen=True)
class CliContext:
    home_path: Path

    def home(self) -> Home:
        return open_home(self.home_path)

    @contextmanager
    def store(self) -> Iterator[tuple[Home, Store]]:
        home = self.home()
        with Store.open(home.database_path) as store:
            yield home, store


def progress_bar(items, label: str):
    """Yield items while drawing a progress bar on stderr (stdout stays clean for data)."""
    with click.progressbar(items, label=label, file=sys.stderr) as bar:
        yield from bar


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class TafutaGroup(click.Group):
    """A click group that turns our errors into clear messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ImportRefused as err:
            for problem in err.problems:
                click.echo(problem, err=True)
            n = len(err.problems)
            fail(f"refused: {n} problem{'s' if n != 1 else ''}; nothing was written", err.exit_code)
        except USER_ERRORS as err:
            fail(str(err), getattr(err, "exit_code", 1))
        except sqlite3.DatabaseError as err:
            fail(f"database error: {err}")
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            # The reader (head, less) went away; that is not an error worth a message.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except OSError as err:
            fail(f"{err.strerror or err}: {err.filename or ''}".rstrip(": "))
        except Exception as err:  # the last line of defence against tracebacks
            if os.environ.get("TAFUTA_DEBUG"):
                traceback.print_exc()
            fail(f"unexpected {type(err).__name__}: {err} (set TAFUTA_DEBUG=1 for details)", 70)
