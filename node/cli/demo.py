"""The `tafuta demo` command: build a demo network (node/demo/network.py), then serve it until
Ctrl-C."""

from __future__ import annotations

import os
import sys
import threading
import time
import webbrowser
from pathlib import Path

import click

from node.demo.network import (
    DEFAULT_DIR,
    DEFAULT_PORT_BASE,
    MAX_NODES,
    BuiltNode,
    Credential,
    build_demo,
    create_demo_users,
)
from node.home import open_home
from node.server.serve import RunningNode, prepare_node, run_nodes
from node.trust.identity import read_passphrase_file

DEMO_SYNC_INTERVAL = 30.0


@click.command("demo")
@click.option(
    "--dir",
    "root",
    default=DEFAULT_DIR,
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the demo nodes: new, empty, or a previous demo (which is replaced).",
)
@click.option(
    "--nodes",
    default=4,
    show_default=True,
    type=click.IntRange(2, MAX_NODES),
    help="How many nodes; half are rural (missing-person lists), half urban (found registers).",
)
@click.option(
    "--people",
    default=2000,
    show_default=True,
    type=click.IntRange(10, 100_000),
    help="Records per node.",
)
@click.option(
    "--port-base",
    default=DEFAULT_PORT_BASE,
    show_default=True,
    type=click.IntRange(1024, 65535),
    help="Serve the nodes on the first free ports from this one up; they are taken at once, "
    "before anything is built.",
)
@click.option("--no-browser", is_flag=True, help="Do not open the first node in a browser.")
def demo_command(root: Path, nodes: int, people: int, port_base: int, no_browser: bool) -> None:
    """Run a demo network of Tafuta nodes on this machine, until Ctrl-C.

    Makes rural nodes with lists of missing people and urban nodes with registers of people
    found (synthetic records; no real person), pairs every rural node with every urban node
    through invitations and verified safety numbers, imports, exchanges blinded keys until
    every pair is scored, then serves every node on 127.0.0.1 and prints their addresses and
    suggested matches. The passphrases are throwaway ones, written beside the nodes.

    \b
    Examples:
      tafuta demo
      tafuta demo --nodes 2 --people 300 --no-browser
      tafuta --home tafuta-demo/kwale-rescue matches     # while it runs, or after
    """
    root = root.expanduser().absolute()
    started = time.monotonic()
    built = build_demo(
        root,
        nodes=nodes,
        people=people,
        port_base=port_base,
        progress=click.echo,
    )
    accounts = {b.node.name: create_demo_users(b.home, b.node.name) for b in built}
    running = [
        prepare_node(
            open_home(b.home),
            read_passphrase_file(b.passphrase_file),
            port=b.node.port,
            sync_interval=DEMO_SYNC_INTERVAL,
            listener=b.listener,
        )
        for b in built
    ]
    seconds = time.monotonic() - started

    def ready(_nodes: list[RunningNode]) -> None:
        click.echo(f"ready in {seconds:.0f} s\n")
        print_table(built)
        print_accounts(accounts)
        click.echo(
            f"\nThe node keys' passphrases are throwaway ones, in {root}/*.passphrase; this "
            "demo is not for real records."
        )
        first = built[0]
        click.echo(
            f"Try: tafuta --home {first.home} matches    "
            f"(or peers list, status; add --passphrase-file {first.passphrase_file} for sync)"
        )
        if not no_browser:
            open_browser(first.node.url)
        click.echo("Press Ctrl-C to stop.")

    run_nodes(running, ready)
    click.echo("stopped the demo nodes; run 'tafuta demo' again to rebuild them")


def open_browser(url: str) -> None:
    """Open ``url`` in a graphical browser, off the event loop's thread; on a machine without a
    desktop (a server over SSH) say where to point one instead of starting a text browser that
    would take over the terminal."""
    desktop = sys.platform in ("darwin", "win32") or any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not desktop:
        click.echo(f"No desktop here: open {url} in a browser on this machine.")
        return
    click.echo(f"Opening {url} in your browser.")
    opener = threading.Thread(target=webbrowser.open, args=(url,), daemon=True)
    opener.start()


def print_table(built: list[BuiltNode]) -> None:
    rows = [("node", "kind", "records", "url", "suggestions")]
    for b in built:
        kind = f"{b.node.kind} ({b.node.record_kind})"
        rows.append((b.node.name, kind, str(b.records), b.node.url, str(b.suggestions)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_accounts(accounts: dict[str, list[Credential]]) -> None:
    click.echo("\nlog in at each node's URL (throwaway accounts and passwords):")
    for node, credentials in accounts.items():
        for c in credentials:
            click.echo(f"  {node}: {c.username} / {c.password} ({c.role})")
