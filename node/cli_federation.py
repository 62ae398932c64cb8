"""Commands that link with peers: serve, sync, matches, bundle export/import."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import click

from .bundle import export_bundle, import_bundle
from .cli_peers import ask_passphrase, passphrase_file_option
from .cli_support import CliContext
from .runtime import open_federation
from .serve import DEFAULT_PORT, serve
from .sync import sync_round

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
@passphrase_file_option("Read the keys' passphrase from this file instead of asking.")
@click.pass_obj
def sync_command(obj: CliContext, peer_name: str | None, passphrase_file: Path | None) -> None:
    """Run one sync round now: send new, changed and retracted records' blinded keys and
    anything else waiting for the peers, then score candidates.

    \b
    Examples:
      tafuta sync
      tafuta sync --peer "Mombasa Shelter"
    """
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    with open_federation(home, passphrase) as federation:
        peers = [federation.peer_named(peer_name)] if peer_name else None
        reports = asyncio.run(sync_round(federation, peers))
    if not reports:
        click.echo("no trusted peers yet; see 'tafuta peers --help'")
    for r in reports:
        scored = "" if r.suggestions < 0 else f", {r.suggestions} suggestions"
        line = f"{r.peer}: queued {r.queued}, sent {r.sent}, waiting {r.pending}{scored}"
        click.echo(line + (f" ({r.error})" if r.error else ""))


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
