"""Commands that link with peers: serve, sync, matches, bundle export/import."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import click

from node.errors import UserError
from node.federation.bundle import export_bundle, import_bundle
from node.federation.sync import sync_round, sync_until_settled
from node.review.rules import DECISIONS, decide
from node.runtime import collect_garbage_less_often, open_federation
from node.server.serve import DEFAULT_PORT, serve
from node.trust.identity import now_seconds

from .peers import ask_passphrase, passphrase_file_option
from .support import CliContext

MATCH_COLUMNS = (
    "match_id",
    "local_ref",
    "local_pseudonym",
    "peer",
    "peer_pseudonym",
    "score",
    "evidence",
    "status",
    "peer_decision",
)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate chain, to serve HTTPS directly (else use a reverse proxy).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key for --tls-cert.",
)
@click.option(
    "--sync-interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between background sync rounds.",
)
@passphrase_file_option("Read the keys' passphrase from this file instead of asking.")
@click.pass_obj
def serve_command(
    obj: CliContext,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    sync_interval: float,
    passphrase_file: Path | None,
) -> None:
    """Run the node: the peer API (POST /v1/inbox, GET /v1/health) and background sync.

    Stops cleanly on Ctrl-C or SIGTERM. Put it behind a reverse proxy with TLS, or give
    --tls-cert and --tls-key.

    \b
    Examples:
      tafuta serve --port 8470
      TAFUTA_PASSPHRASE_FILE=/etc/tafuta/passphrase tafuta serve --host 0.0.0.0
    """
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("give both --tls-cert and --tls-key, or neither")
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    collect_garbage_less_often()
    serve(
        home,
        passphrase,
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        sync_interval=sync_interval,
        on_ready=lambda url: click.echo(f"node {home.name!r} serving at {url}", err=True),
    )


@click.command("sync")
@click.option("--peer", "peer_name", help="Only this peer (default: every trusted peer).")
@click.option(
    "--wait",
    is_flag=True,
    help="Keep syncing until the outbox is empty, no answer is awaited and nothing is left to "
    "score (needs this node's 'tafuta serve' running to receive the answers).",
)
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="With --wait: give up after this many seconds (exit 1, saying what still waits).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="First ask each peer which of our records it holds, and retract those this node does "
    "not know (left by an earlier version, or by restoring an older backup).",
)
@passphrase_file_option("Read the keys' passphrase from this file instead of asking.")
@click.pass_obj
def sync_command(
    obj: CliContext,
    peer_name: str | None,
    wait: bool,
    timeout: float,
    repair: bool,
    passphrase_file: Path | None,
) -> None:
    """Run one sync round now: send new, changed and retracted records' blinded keys and
    anything else waiting for the peers, then score candidates.

    A running 'tafuta serve' syncs by itself; this command may run beside it (the two take
    turns). With --wait it returns once the network has settled as far as this node can see.

    \b
    Examples:
      tafuta sync
      tafuta sync --peer "Mombasa Shelter"
      tafuta sync --wait --timeout 300
      tafuta sync --repair --wait
    """
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    collect_garbage_less_often()
    with open_federation(home, passphrase) as federation:
        peers = [federation.peer_named(peer_name)] if peer_name else None
        if repair:
            for peer in peers or federation.trusted_peers():
                federation.request_holdings(peer)
        if wait:
            reports = asyncio.run(sync_until_settled(federation, peers, timeout=timeout))
        else:
            reports = asyncio.run(sync_round(federation, peers))
    if not reports:
        click.echo("no trusted peers yet; see 'tafuta peers --help'")
    for r in reports:
        scored = "" if r.suggestions < 0 else f", {r.suggestions} suggestions"
        line = f"{r.peer}: queued {r.queued}, sent {r.sent}, waiting {r.pending}{scored}"
        click.echo(line + (f" ({r.error})" if r.error else ""))
    if wait and reports:
        click.echo("settled")


@click.command("matches")
@click.option("--status", help="Only matches with this status (e.g. suggested).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def matches_command(obj: CliContext, status: str | None, fmt: str) -> None:
    """List suggested matches with peers, best score first.

    match_id is the same on both nodes of a pair; local_ref is this node's record; the peer's
    record is known only by its pseudonym until both sides confirm. peer_decision is the
    partner caseworker's decision (confirm, reject, unsure), empty while they have not decided.

    \b
    Examples:
      tafuta matches
      tafuta matches --status suggested --format csv > matches.csv
    """
    with obj.store() as (_home, store):
        rows = store.list_matches(status)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=MATCH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        for row in rows:
            click.echo(
                f"{row['match_id'][:12]}  {row['score']:.4f}  {row['local_ref']:<16} "
                f"{row['peer']:<20} {row['status']:<10} {row['evidence']}"
                + (f"  (partner: {row['peer_decision']})" if row["peer_decision"] else "")
            )
        click.echo(f"{len(rows)} matches")


@click.command("review")
@click.argument("match_id")
@click.argument("decision", type=click.Choice(DECISIONS))
@click.option("--as", "user_name", required=True, help="The caseworker deciding (a web user).")
@click.option("--note", default="", help="What you checked (required to confirm or reject).")
@click.pass_obj
def review_command(obj: CliContext, match_id: str, decision: str, user_name: str, note: str):
    """Decide on a suggested match from the command line, as in the web UI.

    The decision goes to the peer with the next sync, exactly as one made in the browser; a
    match prefix from 'tafuta matches' is not enough, give the whole match_id.

    \b
    Examples:
      tafuta review 3f9c0d5e8a2b4c1d9e7f6a5b4c3d2e1f confirm --as amina --note "same mother"
      tafuta review 3f9c0d5e8a2b4c1d9e7f6a5b4c3d2e1f reject --as amina --note "other district"
    """
    with obj.store() as (_home, store):
        user = store.user_by_name(user_name)
        if user is None or user["disabled"]:
            raise UserError(f"no active user named {user_name!r}; 'tafuta users list' shows them")
        match = decide(store, match_id, decision, note, user, now_seconds())
    click.echo(f"{match['match_id']}: {match['status']}")


@click.group("bundle")
def bundle_group() -> None:
    """Exchange with a peer by carrying files, when there is no network path.

    \b
    Examples:
      tafuta bundle export --peer "Mombasa Shelter" to-mombasa.tafuta
      tafuta bundle import from-mombasa.tafuta
    """


@bundle_group.command("export")
@click.option("--peer", "peer_name", required=True, help="The trusted peer the file is for.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@passphrase_file_option("Read the keys' passphrase from this file instead of asking.")
@click.pass_obj
def bundle_export(
    obj: CliContext, peer_name: str, file: Path, passphrase_file: Path | None
) -> None:
    """Write every message waiting for a peer into one file of sealed envelopes."""
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    with open_federation(home, passphrase) as federation:
        count = export_bundle(federation, federation.peer_named(peer_name), file)
    click.echo(f"wrote {count} messages for {peer_name} to {file}")


@bundle_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@passphrase_file_option("Read the keys' passphrase from this file instead of asking.")
@click.pass_obj
def bundle_import(obj: CliContext, file: Path, passphrase_file: Path | None) -> None:
    """Process a peer's bundle exactly like messages received over the network."""
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    with open_federation(home, passphrase) as federation:
        report = import_bundle(federation, file)
    click.echo(
        f"applied {report.applied}, duplicates {report.duplicates}, "
        f"acknowledgements {report.acknowledgements}, refused {len(report.refused)}"
    )
    for problem in report.refused:
        click.echo(problem, err=True)
