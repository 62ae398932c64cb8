"""Registers uploaded in the web UI, kept in ``<home>/uploads`` between preview and confirm.

An upload is a whole register of victims' data, so it must not outlive its purpose: a preview
that is never confirmed is deleted after an hour (``MAX_AGE_SECONDS``). The purge runs when the
node starts, at every sync round and whenever someone opens, uploads to or confirms an import,
so a forgotten preview is gone within an hour and a sync interval. The copy is streamed to disk
in chunks and stops at the size limit, so an upload is never held whole in memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO

from node.errors import UploadTooLarge

MAX_AGE_SECONDS = 3600
CHUNK = 1 << 20


def uploads_folder(home_path: Path) -> Path:
    folder = home_path / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def save_upload(source: IO[bytes], target: Path, limit: int) -> None:
    """Copy the upload to ``target``; UploadTooLarge (and nothing kept) past ``limit`` bytes."""
    written = 0
    with target.open("xb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                break
            out.write(chunk)
    if written > limit:
        target.unlink(missing_ok=True)
        raise UploadTooLarge(
            f"the file is larger than {limit // 2**20} MB, this node's upload limit; "
            "import it with `tafuta import` or ask your admin to raise [web] max_upload_mb"
        )


def purge_stale_uploads(home_path: Path, now: float | None = None) -> int:
    """Delete previews older than an hour; returns how many were deleted."""
    folder = home_path / "uploads"
    if not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - MAX_AGE_SECONDS
    deleted = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:  # confirmed (and deleted) meanwhile
            continue
    return deleted


__all__ = ["MAX_AGE_SECONDS", "UploadTooLarge", "purge_stale_uploads", "save_upload"]
