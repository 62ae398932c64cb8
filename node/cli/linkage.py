"""``tafuta linkage``: this node as the blind linkage node of pairs of its peers."""

from __future__ import annotations

import json

import click

from node.trust.linkage import add_pair, list_pairs, remove_pair

from .peers import ACTOR_OPTION
from .support import CliContext


@click.group("linkage")
def linkage_group() -> None:
    """Link pairs of trusted peers without seeing their values (a blind linkage node).

    Both nodes of a pair choose this node ('tafuta peers evaluation PEER linker --via US');
    this node agrees with 'tafuta linkage add'. It then compares keys blinded by both nodes,
    which it cannot read, and tells each node its suggestions. docs/privacy-design.md.
    """


@linkage_group.command("add")
@click.argument("first")
@click.argument("second")
@ACTOR_OPTION
@click.pass_obj
def linkage_add(obj: CliContext, first: str, second: str, actor: str) -> None:
    """Link trusted peers FIRST and SECOND.

    FIRST is told every suggestion; SECOND, before FIRST's caseworker confirms it, only those
    that agree on at least three fields. So SECOND learns least about FIRST's records: name
    first the node whose register needs the most protection from guessing.

    \b
    Example:
      tafuta linkage add "Kwale Rescue" "Mombasa Shelter"
    """
    with obj.store() as (_home, store):
        added = add_pair(store, first, second, actor=actor)
    click.echo(
        f"now linking {first!r} and {second!r}"
        if added
        else f"{first!r} and {second!r} are linked already; nothing was changed"
    )


@linkage_group.command("remove")
@click.argument("first")
@click.argument("second")
@ACTOR_OPTION
@click.pass_obj
def linkage_remove(obj: CliContext, first: str, second: str, actor: str) -> None:
    """Stop linking FIRST and SECOND, and forget the keys they sent."""
    with obj.store() as (_home, store):
        removed = remove_pair(store, first, second, actor=actor)
    click.echo(
        f"no longer linking {first!r} and {second!r}; their keys are deleted" if removed
        else f"{first!r} and {second!r} were not linked; nothing was changed"
    )  # fmt: skip


@linkage_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def linkage_list(obj: CliContext, as_json: bool) -> None:
    """The pairs this node links, with the records it holds of each side."""
    with obj.store() as (_home, store):
        pairs = list_pairs(store)
    if as_json:
        click.echo(json.dumps(pairs, indent=1))
        return
    if not pairs:
        click.echo("this node links no pairs ('tafuta linkage add FIRST SECOND')")
    for p in pairs:
        state = "candidates to score" if p["needs_scoring"] else "scored"
        click.echo(
            f"{p['first']} ({p['first_records']} records) and {p['second']} "
            f"({p['second_records']} records): {state}"
        )
