"""Test helpers shipped with the node, so tests, the demo's checks and the benchmarks share one
set instead of importing each other: in-process nodes with a hand courier (inprocess.py),
nodes as processes (processes.py), a web client (web.py) and brute-force checks of
suppressed tables (oracles.py). Nothing here is used by a running node."""
