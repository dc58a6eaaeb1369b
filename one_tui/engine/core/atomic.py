"""The one way one-tui replaces a file: write a temporary file beside it, fsync, rename.

A reader (ONE-api, another one-tui) sees the old file or the new one, never a part; a process
killed mid-write leaves only a ``.tmp-`` file that nobody loads. Settings, REST-cache entries,
tables and exports all go through :func:`atomic_write`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "temp_name"]


def temp_name(path: Path) -> Path:
    """A private name beside ``path`` (same folder, so the rename stays on one filesystem)."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], *,
                 mode: int | None = None, fsync_folder: bool = True) -> None:
    """Write ``path`` whole or not at all: ``write(tmp)`` fills a temporary file beside it,
    which is fsynced, given ``mode`` (else the umask's default) and renamed over ``path``.

    The temporary file is removed on any failure (the error is raised as it was). With
    ``fsync_folder`` the rename itself is made durable where the platform allows it.
    """
    dest = Path(path)
    tmp = temp_name(dest)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    if fsync_folder:
        try:
            dfd = os.open(dest.parent, os.O_RDONLY)
        except OSError:
            return
        with contextlib.suppress(OSError):
            os.fsync(dfd)
        os.close(dfd)
