"""The `tafuta` command line: a main group and one module per command group."""
