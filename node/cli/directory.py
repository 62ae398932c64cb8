"""Commands for the network directory (`tafuta directory …`) and statistics (`tafuta stats`)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import click

from node.directory.profile import (
    DirectoryError,
    check_service,
    directory_search,
    edit_profile,
    export_rows,
    export_text,
    listings,
    own_key_ids,
    parse_region,
    read_profile_file,
    today_utc,
)
from node.directory.stats import network_stats, own_stats, own_view, render_rows
from node.runtime import node_gazetteer, node_lexicon, stats_k
from node.store.db import Store
from node.trust.identity import now_seconds, unlock
from protocol.directory import ORGANISATION_TYPES, SERVICES
from protocol.errors import BadProfile

from .peers import ask_passphrase, passphrase_file_option
from .support import CliContext


def _own_key_ids(home) -> set[str]:
    return own_key_ids(home.identity_path)


@click.group("directory")
def directory_group() -> None:
    """The network directory: who offers which services where.

    This node's organisation profile is signed with the node's key and shared with trusted
    peers at every sync; peers pass it on unchanged, so the directory spans the network. An
    entry whose origin is not a trusted peer of this node is shown as "relayed via" the peer
    that passed it on, not verified by us directly (docs/directory.md).

    \b
    Examples:
      tafuta directory edit --from-file profile.toml
      tafuta directory search --service family-tracing --district "Lunga Lunga, Kwale"
      tafuta directory export directory.csv --format csv
    """


@directory_group.command("edit")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the profile from a .toml or .json file; options override it.",
)
@click.option("--name", help="The organisation's name.")
@click.option("--type", "org_type", help=f"One of: {', '.join(ORGANISATION_TYPES)}.")
@click.option(
    "--service",
    "services",
    multiple=True,
    help=f"A service offered (repeatable): {', '.join(SERVICES)}.",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="CC:DISTRICT[,DISTRICT…]",
    help="A country (ISO code) and districts served, e.g. 'KE:Kwale,Lunga Lunga'. "
    "Repeatable, one per country.",
)
@click.option("--language", "languages", multiple=True, help="A language spoken (repeatable).")
@click.option("--contact-person", help="Who to ask for.")
@click.option("--phone", help="Contact phone number, e.g. '+254 712 345678'.")
@click.option("--email", help="Contact e-mail address.")
@click.option("--hours", help="Opening hours, e.g. 'Mon-Fri 8:00-17:00, hotline 24h'.")
@click.option(
    "--verified-on",
    metavar="YYYY-MM-DD",
    help="When the profile was last verified (default: today).",
)
@passphrase_file_option("Read the keys' passphrase (to sign the profile) from this file.")
@click.pass_obj
def directory_edit(
    obj: CliContext,
    from_file: Path | None,
    name,
    org_type,
    services,
    regions,
    languages,
    contact_person,
    phone,
    email,
    hours,
    verified_on,
    passphrase_file,
) -> None:
    """Create or change this node's organisation profile, sign it, and queue it for peers.

    Options change only the fields given (a repeatable option replaces the whole list; an empty
    value such as --hours "" clears an optional field). Every field is checked first; on any
    problem nothing is changed and every problem is listed. The profile is signed with the
    node's key, so the passphrase is needed. Peers receive it at the next sync.

    \b
    Examples:
      tafuta directory edit --name "Kwale Rescue" --type ngo \\
          --service family-tracing --service shelter --region "KE:Kwale,Lunga Lunga" \\
          --language Swahili --language English --phone "+254 712 345678"
      tafuta directory edit --from-file profile.toml
      tafuta directory edit --hours "Mon-Sat 8:00-18:00"
    """
    changes: dict = read_profile_file(from_file) if from_file else {}
    given = {
        "name": name,
        "type": org_type,
        "services": list(services) or None,
        "regions": [parse_region(r) for r in regions] or None,
        "languages": list(languages) or None,
        "contact_person": contact_person,
        "phone": phone,
        "email": email,
        "hours": hours,
        "last_verified": verified_on,
    }
    changes.update({k: v for k, v in given.items() if v is not None})
    if not changes:
        raise click.UsageError("give at least one field to change, or --from-file")
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    keyring = unlock(home, passphrase)
    now = now_seconds()
    with Store.open(home.database_path) as store:
        try:
            entry = edit_profile(store, keyring, changes, now=now, today=today_utc(now))
        except BadProfile as err:
            for problem in err.problems:
                click.echo(f"  {problem}", err=True)
            raise DirectoryError(
                f"the profile was refused ({len(err.problems)} problem"
                f"{'s' if len(err.problems) != 1 else ''}); nothing was changed"
            ) from err
        gazetteer = node_gazetteer(home, node_lexicon(home))
    unknown = [
        d
        for r in entry["profile"]["regions"]
        for d in r["districts"]
        if not gazetteer.find(d, r["country"])
    ]
    click.echo(f"saved profile version {entry['version']}; peers receive it at the next sync")
    if unknown:
        click.echo(
            f"note: not in the districts list, so found only by exact name: {', '.join(unknown)}"
            " (add them to districts.csv in the node home, see docs/directory.md)",
            err=True,
        )


@directory_group.command("show")
@click.option(
    "--all", "show_all", is_flag=True, help="Every entry this node holds, not only its own."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def directory_show(obj: CliContext, show_all: bool, as_json: bool) -> None:
    """Show this node's profile (or, with --all, every entry with its trust and freshness).

    \b
    Examples:
      tafuta directory show
      tafuta directory show --all --json
    """
    with obj.store() as (home, store):
        now = now_seconds()
        entries = listings(store, today_utc(now), _own_key_ids(home))
    if not show_all:
        entries = [e for e in entries if e.trust == "own"]
        if not entries:
            raise DirectoryError(
                "this node has no directory profile yet; create it with 'tafuta directory edit'"
            )
    rows = [e.to_dict() for e in entries]
    if as_json:
        click.echo(json.dumps(rows if show_all else rows[0], ensure_ascii=False, indent=1))
        return
    for row in rows:
        _print_entry(row)


def _print_entry(row: dict) -> None:
    stale = "  (NOT VERIFIED FOR OVER 6 MONTHS)" if row["stale"] else ""
    click.echo(f"{row['name']}  [{row['type']}]")
    click.echo(f"  services:   {', '.join(row['services'])}")
    regions = "; ".join(f"{r['country']}: {', '.join(r['districts'])}" for r in row["regions"])
    click.echo(f"  regions:    {regions}")
    click.echo(f"  languages:  {', '.join(row['languages'])}")
    contact = ", ".join(filter(None, (row["contact_person"], row["phone"], row["email"])))
    click.echo(f"  contact:    {contact}")
    if row["hours"]:
        click.echo(f"  hours:      {row['hours']}")
    click.echo(f"  verified:   {row['last_verified']}{stale}")
    click.echo(f"  trust:      {row['trust_note']}")
    if "distance_km" in row and row["match"] != "district":
        where = row["match"] if row["distance_km"] is None else f"{row['distance_km']:.0f} km"
        click.echo(f"  nearest:    {row['nearest_district'] or '?'} ({where})")


@directory_group.command("search")
@click.option("--service", help=f"Only organisations offering this: {', '.join(SERVICES)}.")
@click.option("--district", help="Nearest first to this district ('Lunga Lunga, Kwale').")
@click.option("--language", help="Only organisations that speak this language.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def directory_search_command(obj: CliContext, service, district, language, as_json) -> None:
    """Find organisations: those serving the district first, then its county, then the
    nearest districts. Entries not verified for six months are flagged.

    \b
    Examples:
      tafuta directory search --service family-tracing --district "Lunga Lunga, Kwale"
      tafuta directory search --language Swahili --json
    """
    check_service(service)
    if district is not None and not district.strip():
        raise DirectoryError("--district needs a district name")
    with obj.store() as (home, store):
        now = now_seconds()
        gazetteer = node_gazetteer(home, node_lexicon(home))
        hits = directory_search(
            store,
            gazetteer,
            today=today_utc(now),
            own_key_ids=_own_key_ids(home),
            service=service,
            district=district,
            language=language,
        )
    if as_json:
        click.echo(json.dumps(hits, ensure_ascii=False, indent=1))
        return
    if district and not gazetteer.find(district.split(",")[0]):
        click.echo(
            f"note: {district.split(',')[0]!r} is not in the districts list; "
            "nearest-first needs it there",
            err=True,
        )
    for hit in hits:
        _print_entry(hit)
    click.echo(f"{len(hits)} organisation{'s' if len(hits) != 1 else ''}")


@directory_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option(
    "--verified-only",
    is_flag=True,
    help="Leave out entries relayed from organisations this node has not verified.",
)
@click.pass_obj
def directory_export(obj: CliContext, file: Path, fmt: str, verified_only: bool) -> None:
    """Write the directory to FILE for a public website (JSON, or CSV for spreadsheets).

    Each entry carries its trust ("own", "verified", or "relayed"), whether it is stale, and the
    origin's key id and signature. The file is written whole or not at all.

    \b
    Examples:
      tafuta directory export directory.json
      tafuta directory export directory.csv --format csv --verified-only
    """
    with obj.store() as (home, store):
        now = now_seconds()
        rows = export_rows(listings(store, today_utc(now), _own_key_ids(home)), verified_only)
    text = export_text(rows, fmt)
    tmp = file.with_name(f".{file.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, file)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DirectoryError(f"cannot write {file}: {err.strerror or err}") from err
    click.echo(f"wrote {len(rows)} entries to {file}")


@click.command("stats")
@click.option("--network", is_flag=True, help="Sum this node's and its trusted peers' tables.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one block per table).")
@click.option(
    "--k",
    "k",
    type=click.IntRange(2, 1000),
    help="Smallest count published (default: [stats] k in config.toml, else 10).",
)
@click.pass_obj
def stats_command(
    obj: CliContext, network: bool, as_json: bool, as_csv: bool, k: int | None
) -> None:
    """Counts of this node's records by sex, age band, origin district, year reported and
    status (open, matched, reunited), each by kind (missing, found), safe to publish.

    No count from 1 to k-1 is shown ("-"), and enough other counts are hidden that none can be
    worked out from the totals. With --network the tables this node and its trusted peers
    published are summed; ">=N" marks a sum that includes hidden counts (a lower bound).

    \b
    Examples:
      tafuta stats
      tafuta stats --network --csv > network-stats.csv
      tafuta stats --json --k 5
    """
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    with obj.store() as (home, store):
        k = k if k is not None else stats_k(home)
        gazetteer = node_gazetteer(home, node_lexicon(home))
        now = now_seconds()
        if network:
            view = network_stats(store, gazetteer, k=k, now=now)
        else:
            view = own_view(own_stats(store, gazetteer, k=k, now=now))
    view["k"] = k
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False, indent=1))
        return
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for _name, header, rows in render_rows(view):
            writer.writerow(header)
            writer.writerows(rows)
            writer.writerow([])
        click.echo(out.getvalue(), nl=False)
        return
    click.echo(
        f"nodes: {', '.join(view['nodes'])}; counts below {k} hidden ('-'); '>=N' is a lower bound"
    )
    for _name, header, rows in render_rows(view):
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        click.echo("")
        for row in [header, *rows]:
            cells = zip(row, widths, strict=True)
            click.echo("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(cells)))
