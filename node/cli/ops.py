"""Operations commands: backup and restore of a whole node home (node/ops/backup.py), and
retention (node/records/retention.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from node.ops.backup import restore_backup, write_backup
from node.records.retention import RetentionPolicy, policy_text
from node.records.retention import apply as apply_retention
from node.records.retention import review as review_retention
from node.trust.identity import now_seconds

from .peers import ask_passphrase, passphrase_file_option
from .support import CliContext


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@passphrase_file_option("Read the node passphrase from this file instead of asking.")
@click.pass_obj
def backup_command(obj: CliContext, file: Path, passphrase_file: Path | None) -> None:
    """Write an encrypted backup of the whole home (database, config, keys, word lists) to FILE.

    Safe while 'tafuta serve' runs: the database is copied with SQLite's online backup, as of
    one moment. The file is encrypted under the node passphrase (the one that opens the keys)
    and refuses to overwrite an existing FILE. Keep the passphrase apart from the backups.

    \b
    Examples:
      tafuta backup /var/backups/tafuta/node-2026-01-31.tafuta-backup
      TAFUTA_PASSPHRASE_FILE=/etc/tafuta/passphrase tafuta backup /mnt/usb/node.tafuta-backup
    """
    home = obj.home()
    passphrase = ask_passphrase(passphrase_file, new=False)
    report = write_backup(home, file, passphrase)
    click.echo(
        f"backed up {home.name!r}: {report.records} records, {report.files} files, schema "
        f"version {report.schema_version}, {report.bytes} bytes to {report.path}"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Restore into this folder instead of the --home folder.",
)
@passphrase_file_option("Read the passphrase the backup was made with from this file.")
@click.pass_obj
def restore_command(
    obj: CliContext, file: Path, into: Path | None, passphrase_file: Path | None
) -> None:
    """Restore a backup made with 'tafuta backup' into the home (or --into DIR).

    The backup is decrypted and checked (database integrity, schema version not newer than
    this Tafuta, keys open) in a temporary folder first; only then does it replace the home,
    in one rename, with the old home kept aside until that succeeded. Refuses while a node is
    serving on the home: stop it first. A wrong passphrase or an altered, truncated or foreign
    file changes nothing.

    \b
    Examples:
      systemctl stop tafuta && tafuta restore node-2026-01-31.tafuta-backup
      tafuta restore node-2026-01-31.tafuta-backup --into /tmp/check-backup
    """
    target = into.absolute() if into else obj.home_path
    passphrase = ask_passphrase(passphrase_file, new=False)
    report = restore_backup(file, target, passphrase)
    action = "replaced the home" if report.replaced else "restored into"
    click.echo(
        f"{action} {report.home}: {report.records} records, {report.files} files, schema "
        f"version {report.schema_version}; integrity check ok"
    )


@click.command("retention")
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="Expire and purge what is due today ('tafuta serve' does it every sync round).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def retention_command(obj: CliContext, do_apply: bool, as_json: bool) -> None:
    """Show what the retention period does today, or apply it with --apply.

    A record expires on its retain_until date, else [retention] days after its last change
    (config.toml); it is then retracted at every peer, and purged from this node grace_days
    later (default 30) once every peer was sent the retraction. Closed cases count from their
    closing. Lists what is due, what expires later this month, and what will be purged.

    \b
    Examples:
      tafuta retention
      tafuta retention --apply      # on a node that 'tafuta serve' does not run
    """
    with obj.store() as (home, store):
        policy = RetentionPolicy.of(home)
        today = datetime.now(UTC).date()
        if do_apply:
            report = apply_retention(store, policy, today, now_seconds())
        else:
            report = review_retention(store, policy, today)
    if as_json:
        click.echo(json.dumps({"policy": policy_text(policy), "applied": do_apply,
                               **{k: v for k, v in asdict(report).items() if k != "expiring"},
                               "expiring": [(r, d.isoformat()) for r, d in report.expiring]},
                              indent=1))  # fmt: skip
        return
    verb = ("expired", "purged") if do_apply else ("due to expire now", "to purge now")
    click.echo(f"retention: {policy_text(policy)}")
    click.echo(f"{verb[0]}: {len(report.expired)} {_refs(report.expired)}".rstrip())
    click.echo(f"{verb[1]}: {len(report.purged)} {_refs(report.purged)}".rstrip())
    if report.waiting:
        click.echo(
            f"waiting for a sync round to retract them at peers first: {len(report.waiting)} "
            f"{_refs(report.waiting)}"
        )
    later = [f"{ref} ({day.isoformat()})" for ref, day in report.expiring]
    click.echo(f"expiring later this month: {len(later)} {_refs(later)}".rstrip())


def _refs(refs: list[str], most: int = 20) -> str:
    if not refs:
        return ""
    return "(" + ", ".join(refs[:most]) + (", …" if len(refs) > most else "") + ")"
