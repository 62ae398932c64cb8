"""Operations commands: backup and restore of a whole node home (node/backup.py)."""

from __future__ import annotations

from pathlib import Path

import click

from .backup import restore_backup, write_backup
from .cli_peers import ask_passphrase, passphrase_file_option
from .cli_support import CliContext


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
