"""The one way one-tui replaces a file: write a temporary file beside it, fsync, rename.

A reader (ONE-api, another one-tui) sees the old file or the new one, never a part; a process
killed mid-write leaves only a ``.tmp-`` file that nobody loads. Settings, REST-cache entries,
tables and exports all go through :func:`atomic_write`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "temp_name", "temp_owner"]

#: ``<name>.tmp-<pid>-<host>-<random>``: whose a temporary file is, so that a leftover of a
#: killed writer on this host can go at once (``local.layout.leftover_is_dead``).
_OWNED = re.compile(r"\.tmp-(\d{1,19})-([0-9a-f]{8})-[0-9a-f]{8}$")


def _host() -> str:
    """This host, as 8 hex characters of a hash (a host name may hold anything)."""
    return hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:8]


def temp_name(path: Path) -> Path:
    """A private name beside ``path`` (same folder, so the rename stays on one filesystem),
    naming its writer's pid and host."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{_host()}-{secrets.token_hex(4)}")


def temp_owner(path: Path) -> int | None:
    """The pid of the writer of a temporary file ``temp_name`` made on this host; None for
    another host's, or another name (an older one-tui's, which named no host)."""
    found = _OWNED.search(path.name)
    if found is None or found.group(2) != _host():
        return None
    return int(found.group(1))


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
