"""The `tafuta` command line: a thin layer over functions a test or another program can call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from node.dates import DATE_ORDERS
from node.federation.sync import describe_pending, is_settled, pending_for
from node.home import DEFAULT_HOME, check_new_home, resolve_home_path
from node.records.exporter import write_canonical_csv
from node.records.importer import (
    apply_import,
    plan_import,
    read_mapping,
    rejected_path,
    summary_line,
)
from node.records.retention import RetentionPolicy
from node.records.retention import review as review_retention
from node.store.db import Store
from node.trust.budgets import ALERT_KINDS, WINDOW_SECONDS
from node.trust.identity import create_node, now_seconds, write_new_passphrase_file
from node.trust.linkage import list_pairs
from node.trust.peers import default_actor

from .demo import demo_command
from .directory import directory_group, stats_command
from .federation import (
    bundle_group,
    matches_command,
    review_command,
    serve_command,
    sync_command,
)
from .link import dedup_command, link_command
from .linkage import linkage_group
from .ops import backup_command, restore_command, retention_command
from .peers import ask_passphrase, keys_group, passphrase_file_option, peers
from .support import CliContext, TafutaGroup, progress_bar
from .users import audit, users

PROGRESS_THRESHOLD = 2000  # rows; smaller imports finish before a bar would help


@click.group(cls=TafutaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    envvar="TAFUTA_HOME",
    default=DEFAULT_HOME,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The node's home folder (config, database, keys). Env: TAFUTA_HOME.",
)
@click.version_option(package_name="tafuta")
@click.pass_context
def main(ctx: click.Context, home: Path) -> None:
    """Tafuta: find missing people without sharing their data.

    A node keeps its organisation's records and links them with trusted peer nodes through
    privacy-preserving encodings.

    \b
    Examples:
      tafuta --home ./node init --name "Kwale Rescue"
      tafuta --home ./node import register.csv --kind missing
      tafuta --home ./node status
    """
    ctx.obj = CliContext(home_path=resolve_home_path(home))


@main.command()
@click.option("--name", required=True, help="Your organisation's name as peers will see it.")
@click.option("--url", default="", help="The address peers reach this node at (https://…).")
@click.option(
    "--country",
    default="",
    metavar="CODE",
    help="The node's country (ISO code, e.g. KE): dates like 03/04/2006 are read the way it "
    "writes them (day first unless it writes the month first, as US). Default: day first.",
)
@passphrase_file_option("Read the new keys' passphrase from this file instead of asking.")
@click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Generate a strong passphrase into this new file (mode 0600) for unattended start.",
)
@click.pass_obj
def init(
    obj: CliContext,
    name: str,
    url: str,
    country: str,
    passphrase_file: Path | None,
    new_passphrase_file: Path | None,
) -> None:
    """Create a new node home with its keys; refuses to overwrite an existing one.

    The node's private keys are encrypted under a passphrase (at least 12 characters), asked
    twice unless --passphrase-file or --new-passphrase-file is given. Keep it safe: without it
    the keys cannot be used, and nobody can recover it.

    \b
    Examples:
      tafuta --home ./node init --name "Kwale Rescue" --url https://tafuta.example.org
      tafuta --home ./node init --name "Kwale Rescue" --passphrase-file /etc/tafuta/passphrase
    """
    check_new_home(obj.home_path, name, url, country)  # before asking anything
    if passphrase_file and new_passphrase_file:
        raise click.UsageError("give --passphrase-file or --new-passphrase-file, not both")
    if new_passphrase_file:
        passphrase = write_new_passphrase_file(new_passphrase_file)
    else:
        passphrase = ask_passphrase(passphrase_file, new=True)
    try:
        home = create_node(
            obj.home_path, name=name, url=url, passphrase=passphrase, country=country
        )
    except BaseException:
        if new_passphrase_file:
            new_passphrase_file.unlink(missing_ok=True)
        raise
    with Store.open(home.database_path) as store:
        version = store.schema_version
    click.echo(f"created node {home.name!r} in {home.path} (schema version {version})")
    if new_passphrase_file:
        click.echo(f"the keys' passphrase is in {new_passphrase_file}; keep it apart from backups")


@main.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Read a canonical FIELD from a differently named COLUMN. Repeatable.",
)
@click.option(
    "--kind",
    type=click.Choice(["missing", "found"]),
    help="Kind of every record in the file (fills empty 'kind' cells).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import what can be used: bad values are set aside (one warning each), rows that "
    "cannot be used are written with reasons beside the file.",
)
@click.option(
    "--date-order",
    type=click.Choice(DATE_ORDERS),
    help="How to read dates like 03/04/2006: dmy (day first) or mdy (month first). "
    "Default: [import] date_order in config.toml, else the node's country (dmy for Kenya).",
)
@click.option("--dry-run", is_flag=True, help="Check and count, write nothing.")
@click.pass_obj
def import_(
    obj: CliContext,
    file: Path,
    mappings: tuple[str, ...],
    kind: str | None,
    skip_invalid: bool,
    date_order: str | None,
    dry_run: bool,
) -> None:
    """Import a register (CSV or XLSX) into the node.

    Every row is checked before anything is written: a file with any invalid row is refused
    whole (exit code 2) unless --skip-invalid is given; then a bad value is set aside (a date
    keeps its valid part: 1938-11-31 keeps 1938-11) with one warning naming line and column,
    and only rows that cannot be used (no ref, a bad kind) are rejected. Rows are matched by
    'ref': importing the same file again changes nothing; a changed row updates its record.

    Dates may be written as registers write them: 2006-03-15, 15/03/2006, 15.03.2006,
    2006/03/15, 03/2006, March 2006, 15 Machi 2006; '~16' in birth_date is an estimated age.
    They are stored as YYYY-MM-DD (or YYYY-MM, YYYY), with the value as written kept.

    \b
    Examples:
      tafuta import register.csv --kind missing
      tafuta import register.xlsx --map given_names=Jina --map family_name=Ukoo
      tafuta import register.csv --skip-invalid   # writes register.rejected.csv
      tafuta import us-register.csv --date-order mdy
    """
    mapping, mapping_problems = read_mapping(mappings)
    with obj.store() as (home, store):
        plan = plan_import(
            file,
            store,
            mapping=mapping,
            default_kind=kind,
            skip_invalid=skip_invalid,
            progress=_progress,
            date_order=date_order or home.date_order,
            consent_defaults=home.consent_defaults,
            mapping_problems=mapping_problems,
        )
        if not dry_run:
            apply_import(plan, store)
    for line in plan.set_aside:
        click.echo(f"warning: {line}", err=True)
    click.echo(summary_line(plan.counts, dry_run=dry_run))
    if plan.set_aside:
        click.echo(f"{len(plan.set_aside)} bad values set aside (warnings above)", err=True)
    if plan.rejected and not dry_run:
        click.echo(f"rejected rows and reasons written to {rejected_path(file)}")


def _progress(rows):
    return rows if len(rows) < PROGRESS_THRESHOLD else progress_bar(rows, "checking rows")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--include-retracted", is_flag=True, help="Also export retracted records.")
@click.pass_obj
def export(obj: CliContext, file: Path, include_retracted: bool) -> None:
    """Write the node's records to FILE as canonical CSV.

    Cells that a spreadsheet would run as a formula (starting with = + - @) get a leading
    apostrophe; 'tafuta import' removes it again.

    \b
    Example:
      tafuta export backup.csv
    """
    with obj.store() as (home, store):
        count = write_canonical_csv(store.iter_records(include_retracted), file, home.date_order)
    click.echo(f"exported {count} records to {file}")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
@click.pass_context
def records(ctx: click.Context, as_json: bool) -> None:
    """List the node's records (ref, kind, names, birth date).

    \b
    Examples:
      tafuta records
      tafuta records --json
      tafuta records show KW-2024-0113
      tafuta records count
    """
    if ctx.invoked_subcommand is not None:
        return
    with ctx.obj.store() as (_home, store):
        rows = store.iter_records()
        if as_json:
            click.echo(json.dumps(list(rows), ensure_ascii=False, indent=1))
            return
        for row in rows:
            names = " ".join(filter(None, (row["given_names"], row["family_name"])))
            click.echo(f"{row['ref']}\t{row['kind']}\t{names}\t{row['birth_date'] or ''}")


@records.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.pass_obj
def records_show(obj: CliContext, ref: str, as_json: bool) -> None:
    """Show every field of one record, with its provenance."""
    with obj.store() as (_home, store):
        record = store.get_record(ref)
        store.audit(f"cli:{default_actor()}", "record-viewed", ref, "tafuta records show",
                    now_seconds())  # fmt: skip
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=1))
        return
    width = max(len(k) for k in record)
    for key, value in record.items():
        click.echo(f"{key:<{width}}  {'' if value is None else value}")


@records.command("count")
@click.pass_obj
def records_count(obj: CliContext) -> None:
    """Print the number of records (retracted ones not counted)."""
    with obj.store() as (_home, store):
        click.echo(store.count_records())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(obj: CliContext, as_json: bool) -> None:
    """Print the node's name, records by kind, database size and schema version.

    Also the messages waiting for peers, whether the exchange with every trusted peer has
    settled (nothing to send, no answer awaited, nothing to score) or what it waits for, the
    latest peer events, and the alerts of the last 30 days a coordinator must see: a peer
    refused for asking to blind more keys than its budget, or whose announced records, volume
    or key profile jumped. On a blind linkage node, the pairs of peers it links.
    """
    with obj.store() as (home, store):
        info: dict[str, Any] = {
            "name": home.name,
            "url": home.url,
            "home": str(home.path),
            "records": store.counts_by_kind(),
            "retracted": store.retracted_count(),
            "database_bytes": store.size_bytes(home.database_path),
            "schema_version": store.schema_version,
            "outbox": store.outbox_count(),
            "exchange": _exchange_state(store),
            "peer_events": store.recent_peer_events(),
            "alerts": store.peer_alerts(ALERT_KINDS, now_seconds() - WINDOW_SECONDS),
            "linking": list_pairs(store),
        }
        due = review_retention(store, RetentionPolicy.of(home), datetime.now(UTC).date())
        info["expiring_this_month"] = [r for r, _ in due.expiring] + due.expired
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    click.echo(f"node:            {info['name']}")
    if info["url"]:
        click.echo(f"url:             {info['url']}")
    click.echo(f"home:            {info['home']}")
    kinds = info["records"]
    click.echo(
        f"records:         {kinds['missing']} missing, {kinds['found']} found"
        + (f" ({info['retracted']} retracted)" if info["retracted"] else "")
    )
    click.echo(f"database size:   {_human_size(info['database_bytes'])}")
    click.echo(f"schema version:  {info['schema_version']}")
    click.echo(f"outbox:          {info['outbox']} messages waiting for peers")
    click.echo(f"exchange:        {info['exchange']['summary']}")
    for p in info["linking"]:  # as a blind linkage node (tafuta linkage)
        click.echo(
            f"linking:         {p['first']} ({p['first_records']} records) and {p['second']} "
            f"({p['second_records']} records)"
        )
    expiring = info["expiring_this_month"]
    if expiring:
        shown = ", ".join(expiring[:10]) + (", …" if len(expiring) > 10 else "")
        click.echo(f"retention:       {len(expiring)} records expire this month ({shown})")
    for event in info["peer_events"]:
        if event["kind"] in ALERT_KINDS:
            continue  # printed below as an alert
        when = datetime.fromtimestamp(event["at"], UTC).isoformat(timespec="seconds")
        click.echo(f"peer event:      {when} {event['peer']}: {event['kind']}: {event['detail']}")
    for alert in info["alerts"]:
        when = datetime.fromtimestamp(alert["at"], UTC).isoformat(timespec="seconds")
        click.echo(f"ALERT:           {when} {alert['peer']}: {alert['kind']}: {alert['detail']}")
    if info["alerts"]:
        click.echo("                 (alerts of the last 30 days; see docs/coordinator-guide.md)")


def _exchange_state(store) -> dict:
    """'settled' or what waits, per trusted peer (the same test as 'sync --wait')."""
    peers = [(row["id"], row["name"]) for row in store.iter_peers() if row["state"] == "trusted"]
    pending = pending_for(store, peers)
    return {"settled": is_settled(pending), "summary": describe_pending(pending), "peers": pending}


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


main.add_command(peers)
main.add_command(keys_group)
main.add_command(serve_command)
main.add_command(sync_command)
main.add_command(matches_command)
main.add_command(review_command)
main.add_command(bundle_group)
main.add_command(link_command)
main.add_command(dedup_command)
main.add_command(linkage_group)
main.add_command(users)
main.add_command(audit)
main.add_command(retention_command)
main.add_command(directory_group)
main.add_command(stats_command)
main.add_command(demo_command)
main.add_command(backup_command)
main.add_command(restore_command)
