"""Where one-tui keeps each table of a folder shared with ONE-api, and when a leftover is dead.

This module exists so that "which file is table X" has one answer for the reader (``store``
loading a folder), the writer (``store`` saving one) and the ``Cache`` (which remembers the file
each table came from): ONE's tables are ``<folder>/<name>.pqt``; the insertions one-tui merged
live in ``PRIVATE_DIR`` (see ``SAVED_TABLES`` for why ONE must not see them). It also holds the
age at which a file a writer left behind (a temporary table, a download folder, ONE's lock) is
taken for the leftover of a killed process, and the rule that a temporary file whose writer
died on this host is dead at once (``leftover_is_dead``). Standard library and ``core`` only:
everything in ``local`` may import it.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from one_tui.engine.core.atomic import temp_owner

__all__ = ["ABANDONED_AFTER", "PRIVATE_DIR", "PRIVATE_TABLES", "SAVED_TABLES",
           "leftover_is_dead", "pid_alive", "stat", "table_path"]

#: Tables save_cache writes beside ONE's. ``insertions.pqt`` is not among ONE's: ONE 3.6.1's
#: save_cache merges its memory into the tables on disk and then looks every disk table up in
#: its own metadata, so an insertions.pqt it did not load (ONE 3.x starts in remote mode with
#: no tables) raises ``KeyError: 'insertions'`` (and one it holds that the disk lacks raises
#: ``KeyError: 'Table "insertions" not in cache'``). one-tui keeps the insertions it merged in
#: ``PRIVATE_DIR/insertions.pqt``, out of ONE's ``*.pqt`` glob (which is not recursive).
SAVED_TABLES = ("sessions", "datasets", "insertions")
#: one-tui's own sub-folder of a tables folder, and the tables it keeps there.
PRIVATE_DIR = ".one-tui"
PRIVATE_TABLES = ("insertions",)

#: A file a writer leaves behind (a table's temporary file, a download folder, a lock ONE-api
#: wrote) untouched this long was left by a process that was killed: live writers keep writing.
#: The one "10 minutes means dead" of the lock, the save and the download.
ABANDONED_AFTER = timedelta(minutes=10)


def table_path(folder: Path, name: str) -> Path:
    """Where table ``name`` of ``folder`` is written (and read when ONE has no copy of it)."""
    if name in PRIVATE_TABLES:
        return folder / PRIVATE_DIR / f"{name}.pqt"
    return folder / f"{name}.pqt"


def stat(path: Path) -> tuple[int, int]:
    """(mtime_ns, size) of a table file: what tells a save the file changed since it was read."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def pid_alive(pid: int) -> bool | None:
    """Whether a process with this pid exists on this machine: True, False, or None when no
    process can have it (zero, negative, too large for the OS), so that only its age tells."""
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except (OverflowError, ValueError, OSError):
        return None
    return True


def leftover_is_dead(path: Path) -> bool:
    """A temporary file (``core.atomic.temp_name``) nobody will finish: its writer's pid is dead
    on this host (at once: a killed save left a file as big as its table), or, when that
    cannot be known (another host's file, a live pid that may be reused, an older name), it
    was untouched for ``ABANDONED_AFTER``. Raises OSError when the file cannot be looked at."""
    pid = temp_owner(path)
    if pid is not None and pid != os.getpid() and pid_alive(pid) is False:
        return True
    return time.time() - path.lstat().st_mtime > ABANDONED_AFTER.total_seconds()
