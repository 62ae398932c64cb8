"""`python -m node.cli`: the same as the `tafuta` command."""

from .main import main

main()
