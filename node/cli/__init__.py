"""The `tafuta` command line: a main group and one module per command group.

``node.cli.main`` (the function) is what the console script runs, as before the redesign."""

from .main import main

__all__ = ["main"]
