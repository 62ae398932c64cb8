"""Backing up a whole node home into one encrypted file, and restoring it.

A backup holds the database (an online copy made with SQLite's backup API, so it is consistent
while `tafuta serve` keeps writing), config.toml, the key file and every other file an admin put
in the home (word lists). It is packed as a tar archive and encrypted under the node passphrase
with the key file's own settings (keys/keystore.py: Argon2id or scrypt, then AES-256-GCM). The
plaintext never touches the disk.

File layout (version 1)::

    b"TAFUTA-BACKUP\\x00" ‖ header length (4 bytes, big-endian) ‖ header (canonical JSON)
    ‖ AES-GCM chunks of CHUNK_BYTES plaintext each (+16 bytes tag), the last one shorter

    header = {"format": "tafuta-backup", "version": 1, "kdf": {…salt…}, "cipher":
              "aes-256-gcm", "chunk_bytes": …, "nonce_prefix": …, "ciphertext_bytes": …}

Chunk i is sealed with the nonce ``nonce_prefix (7 bytes) ‖ i (4 bytes) ‖ last (1 byte)`` and the
whole preamble (magic, length, header) as associated data, so the header cannot be changed,
chunks cannot be reordered, dropped or cut off, and the end cannot be moved, without the
passphrase. The key is derived with a fresh salt for every backup.

Restore decrypts, unpacks into a temporary folder beside the target, checks it
(``verify_restored_home``), and only then swaps it into place with renames, keeping the old
home aside until the swap has succeeded. It refuses while a node serves on the target
(node/ops/lock.py).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import sqlite3
import struct
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys import KdfParams, KeysError, load_keyring
from node.errors import BackupError, HomeError
from node.home import CONFIG_NAME, DATABASE_NAME, IDENTITY_NAME, KEYS_DIR, Home, open_home
from node.store.audit import verify_chain
from node.store.migrations import LATEST_VERSION
from protocol.envelope import unb64

from .lock import LOCK_NAME, home_lock

MAGIC = b"TAFUTA-BACKUP\x00"
FORMAT = "tafuta-backup"
VERSION = 1
CIPHER = "aes-256-gcm"
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
MAX_HEADER_BYTES = 4096
# Files of a home that are not copied: the live database (copied through the backup API
# instead), its journals, the serve lock, and half-written temporary files.
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")


@dataclass(frozen=True)
class BackupReport:
    path: Path
    files: int
    records: int
    schema_version: int
    bytes: int


@dataclass(frozen=True)
class RestoreReport:
    home: Path
    files: int
    records: int
    schema_version: int
    replaced: bool


# -- backup -----------------------------------------------------------------------------------


def write_backup(home: Home, target: Path, passphrase: str) -> BackupReport:
    """Write an encrypted backup of ``home`` to ``target``; refuses to overwrite anything."""
    target = Path(target).absolute()
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} already exists; refusing to overwrite it")
    if target.is_relative_to(home.path.absolute()):
        raise BackupError("write the backup outside the node home (it would back itself up)")
    try:  # a typo here would make a backup nobody can open: check the passphrase first
        keyring = load_keyring(home.identity_path, passphrase)
    except KeysError as err:
        raise BackupError(f"cannot back up: {err}") from err
    database, records, schema = snapshot_database(home.database_path)
    archive, files = pack_home(home.path, database)
    data = encrypt(archive, passphrase, keyring.kdf)
    write_new_file(target, data)
    return BackupReport(target, files, records, schema, len(data))


def snapshot_database(path: Path) -> tuple[bytes, int, int]:
    """A consistent copy of the live database in memory: (image, records, schema version).

    The backup API copies every page inside one read transaction; with WAL, writers carry on
    meanwhile and the copy is the database as of one commit. The copy is checked before use.
    """
    if not path.exists():
        raise BackupError(f"no database at {path}")
    source = sqlite3.connect(str(path), timeout=30)
    source.execute("PRAGMA secure_delete=ON")
    copy = sqlite3.connect(":memory:")
    copy.execute("PRAGMA secure_delete=ON")
    try:
        source.backup(copy)
        check = copy.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            raise BackupError(f"the database fails its integrity check: {check[:3]}")
        schema = copy.execute("PRAGMA user_version").fetchone()[0]
        records = _count_records(copy)
        return copy.serialize(), records, schema
    except sqlite3.DatabaseError as err:
        raise BackupError(f"cannot copy the database {path}: {err}") from err
    finally:
        copy.close()
        source.close()


def _count_records(conn: sqlite3.Connection) -> int:
    try:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # a home made before its first migration
        return 0


def _skipped(relative: Path) -> bool:
    name = relative.name
    return (
        relative.as_posix() in (DATABASE_NAME, LOCK_NAME)
        or name.endswith(SKIPPED_SUFFIXES)
        or name.startswith(".")
    )


def pack_home(home_path: Path, database: bytes) -> tuple[bytes, int]:
    """A tar archive of the home's regular files (symlinks are not followed) plus the copy."""
    buffer = io.BytesIO()
    files = 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _add_bytes(tar, DATABASE_NAME, database)
        files += 1
        for path in sorted(home_path.rglob("*")):
            relative = path.relative_to(home_path)
            if path.is_symlink() or not path.is_file() or _skipped(relative):
                continue
            _add_bytes(tar, relative.as_posix(), path.read_bytes())
            files += 1
    return buffer.getvalue(), files


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def write_new_file(target: Path, data: bytes) -> None:
    """Write to a temporary file, fsync, then link it into place: never over an existing file,
    never a half-written one under the final name."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise BackupError(f"cannot write {target}: {err.strerror}") from err
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, target)
    except FileExistsError as err:
        raise BackupError(f"{target} already exists; refusing to overwrite it") from err
    except OSError as err:
        raise BackupError(f"cannot write {target}: {err.strerror}") from err
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


# -- encryption -------------------------------------------------------------------------------


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)


def _chunk_count(size: int, chunk: int) -> int:
    return max(1, -(-size // chunk))


def encrypt(plaintext: bytes, passphrase: str, kdf: KdfParams) -> bytes:
    salt, prefix = secrets.token_bytes(16), secrets.token_bytes(7)
    chunks = _chunk_count(len(plaintext), CHUNK_BYTES)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": kdf.to_dict(salt),
        "cipher": CIPHER,
        "chunk_bytes": CHUNK_BYTES,
        "nonce_prefix": prefix.hex(),
        "ciphertext_bytes": len(plaintext) + chunks * TAG_BYTES,
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    preamble = MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes
    aead = AESGCM(kdf.derive(passphrase, salt))
    parts = [preamble]
    for index in range(chunks):
        piece = plaintext[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]
        parts.append(aead.encrypt(_nonce(prefix, index, index == chunks - 1), piece, preamble))
    return b"".join(parts)


def decrypt(data: bytes, passphrase: str, name: str = "the backup") -> bytes:
    """The archive inside a backup file; BackupError with a clear reason otherwise."""
    preamble, header = _read_header(data, name)
    body = data[len(preamble) :]
    expected = header["ciphertext_bytes"]
    if len(body) < expected:
        raise BackupError(
            f"{name} is truncated ({len(data)} bytes, {expected - len(body)} missing); "
            "copy the whole file again"
        )
    if len(body) > expected:
        raise BackupError(f"{name} has {len(body) - expected} bytes too many; it was altered")
    try:
        aead = AESGCM(header["kdf"].derive(passphrase, header["salt"]))
    except KeysError as err:
        raise BackupError(f"{name} names unusable key-derivation settings") from err
    step = header["chunk_bytes"] + TAG_BYTES
    chunks = _chunk_count(expected, step)
    plain = []
    for index in range(chunks):
        piece = body[index * step : (index + 1) * step]
        try:
            nonce = _nonce(header["prefix"], index, index == chunks - 1)
            plain.append(aead.decrypt(nonce, piece, preamble))
        except InvalidTag as err:
            if index == 0:
                raise BackupError(
                    f"the passphrase does not open {name}, or the file was altered; use the "
                    "passphrase the node had when the backup was made"
                ) from err
            raise BackupError(f"{name} was altered or damaged (part {index + 1})") from err
    return b"".join(plain)


def _read_header(data: bytes, name: str) -> tuple[bytes, dict]:
    if not data.startswith(MAGIC):
        raise BackupError(f"{name} is not a Tafuta backup")
    start = len(MAGIC) + 4
    if len(data) < start:
        raise BackupError(f"{name} is truncated")
    (length,) = struct.unpack(">I", data[len(MAGIC) : start])
    if length > MAX_HEADER_BYTES:
        raise BackupError(f"{name} is damaged (its header is {length} bytes)")
    if len(data) < start + length:
        raise BackupError(f"{name} is truncated")
    try:
        header = json.loads(data[start : start + length])
        version = header["version"]
        if header["format"] != FORMAT:
            raise ValueError("format")
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise BackupError(f"{name} is damaged (its header cannot be read)") from err
    if version != VERSION:
        raise BackupError(
            f"{name} is backup format version {version}; this Tafuta reads version {VERSION}"
            + ("; upgrade Tafuta" if isinstance(version, int) and version > VERSION else "")
        )
    try:
        kdf_fields = header["kdf"]
        kdf = KdfParams(
            name=str(kdf_fields["name"]),
            iterations=int(kdf_fields["iterations"]),
            lanes=int(kdf_fields["lanes"]),
            memory_kib=int(kdf_fields["memory_kib"]),
        )
        parsed: dict[str, Any] = {
            "kdf": kdf,
            "salt": unb64(kdf_fields["salt"]),
            "prefix": bytes.fromhex(header["nonce_prefix"]),
            "chunk_bytes": int(header["chunk_bytes"]),
            "ciphertext_bytes": int(header["ciphertext_bytes"]),
        }
        if header["cipher"] != CIPHER or len(parsed["prefix"]) != 7:
            raise ValueError("cipher")
        if not 1024 <= parsed["chunk_bytes"] <= 64 * CHUNK_BYTES:
            raise ValueError("chunk size")
        if parsed["ciphertext_bytes"] < TAG_BYTES:
            raise ValueError("size")
        kdf.check()
    except (ValueError, KeyError, TypeError, KeysError) as err:
        raise BackupError(f"{name} is damaged (its header cannot be read)") from err
    return data[: start + length], parsed


# -- restore ----------------------------------------------------------------------------------


def restore_backup(source: Path, target: Path, passphrase: str) -> RestoreReport:
    """Replace (or create) the home at ``target`` with the backup in ``source``.

    Nothing at ``target`` changes unless the backup decrypts, unpacks, passes
    ``verify_restored_home`` and its keys open with the passphrase.
    """
    source, target = Path(source), Path(target).absolute()
    try:
        data = source.read_bytes()
    except OSError as err:
        raise BackupError(f"cannot read {source}: {err.strerror}") from err
    archive = decrypt(data, passphrase, str(source))
    replaced = _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    try:
        files = unpack_home(archive, staging)
        records, schema = verify_restored_home(staging)
        try:
            load_keyring(staging / KEYS_DIR / IDENTITY_NAME, passphrase)
        except KeysError as err:
            raise BackupError(f"the restored keys do not open: {err}") from err
        _swap_into_place(staging, target, replaced)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreReport(target, files, records, schema, replaced)


def _check_target(target: Path) -> bool:
    """Whether a home will be replaced; refuses a target that is something else."""
    if not target.exists():
        return False
    if not target.is_dir():
        raise BackupError(f"{target} exists and is not a folder; refusing to replace it")
    is_home = (target / CONFIG_NAME).exists() or (target / DATABASE_NAME).exists()
    if not is_home and any(target.iterdir()):
        raise BackupError(
            f"{target} is a folder that is not a Tafuta home and is not empty; refusing to "
            "replace it (restore with --into an empty or new folder)"
        )
    return is_home


def unpack_home(archive: bytes, folder: Path) -> int:
    """Unpack regular files only, at safe relative paths, mode 0600 (folders 0700)."""
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                relative = Path(member.name)
                if (
                    not member.isfile()
                    or relative.is_absolute()
                    or ".." in relative.parts
                    or not relative.parts
                ):
                    raise BackupError(f"the backup holds an unexpected entry {member.name!r}")
                path = folder / relative
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                extracted = tar.extractfile(member)
                if extracted is None:  # a regular file was checked above; never a link
                    raise BackupError(f"the backup entry {member.name!r} is not a file")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(extracted, out)
                    out.flush()
                    os.fsync(out.fileno())
                count += 1
    except (tarfile.TarError, EOFError, OSError) as err:
        raise BackupError(f"the backup's contents cannot be unpacked: {err}") from err
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        _fsync_dir(path)
    return count


def verify_restored_home(path: Path) -> tuple[int, int]:
    """Check an unpacked home before it replaces anything: (records, schema version).

    Checks that the config reads, that the database passes ``PRAGMA integrity_check`` and its
    foreign keys hold, that its schema version is not newer than this software, and that the
    audit log's hash chain verifies (a backup whose history was edited is refused).
    """
    try:
        open_home(path)
    except HomeError as err:
        raise BackupError(f"the backup's config is unusable: {err}") from err
    database = path / DATABASE_NAME
    if not database.is_file():
        raise BackupError("the backup holds no database")
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            raise BackupError(f"the backup's database fails its integrity check: {check[:3]}")
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise BackupError(f"the backup's database has {len(broken)} broken references")
        schema = conn.execute("PRAGMA user_version").fetchone()[0]
        if schema > LATEST_VERSION:
            raise BackupError(
                f"the backup's database is at schema version {schema}, newer than this Tafuta "
                f"understands ({LATEST_VERSION}); restore it with a newer Tafuta"
            )
        has_audit = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'"
        ).fetchone()
        if has_audit:
            conn.row_factory = sqlite3.Row
            rows = (dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY id"))
            report = verify_chain(rows)
            conn.row_factory = None
            if not report.ok:
                raise BackupError(
                    f"the backup's audit log is broken at row {report.broken_id}: "
                    f"{report.problem}; nothing was restored"
                )
        records = _count_records(conn)
    except sqlite3.DatabaseError as err:
        raise BackupError(f"the backup's database cannot be read: {err}") from err
    finally:
        conn.close()
    return records, schema


def _swap_into_place(staging: Path, target: Path, replaced: bool) -> None:
    """Rename the checked home into place; the old one stays aside until that succeeded."""
    if not replaced:  # no folder, or an empty one: nothing to keep aside, no node to stop
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
        _fsync_dir(target.parent)
        return
    with home_lock(target, "restore over it"):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = target.with_name(f".{target.name}.before-restore-{stamp}-{secrets.token_hex(2)}")
        os.rename(target, aside)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(aside, target)
            raise
        _fsync_dir(target.parent)
    shutil.rmtree(aside)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
