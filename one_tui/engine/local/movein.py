"""Moving a downloaded set of tables in: all of them, or, after a kill, all of them by the next run.

The tables of one ``cache.zip`` (sessions, datasets, ``cache_info.json``) are one set: a
datasets table from one download beside a sessions table from another lists datasets of
sessions that table lacks, and ``date_created`` says two things. Each file moves in with one
rename, and no filesystem renames two files at once, so a download killed between the renames
(SIGKILL, the OOM killer, a node rebooted) left tables from two downloads that every reader took
for one set (CI saw it about one run in seven of the twenty-kill test). ONE-api extracts its
zip over the old tables and has the same window, wider.

So the move is a redo log. Under the folder's lock a marker is written into the download folder
before the first rename and deleted after the last. The writer holds the lock from the one to the
other, so a marker that someone else finds while holding the lock was left by a writer that died
mid-move; the files it had not moved yet are still in the download folder (checked whole before
the marker was written), and the next load or download moves them in. Rolling forward, not back:
the old tables are already partly gone, the new ones are all there.

Nothing here is fsynced: a kill of the process is what this covers; a power loss may lose the
marker's order against the renames, as it may lose any rename.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from one_tui.engine.core.spec import one_line
from one_tui.engine.local.lock import FileLock, LockTimeout

DOWNLOAD_PREFIX = ".one-tui-download-"  # a download's own folder inside the tables folder
STAGED = "tables"  # the checked tables, inside the download folder
MARKER = "moving-in.json"  # present while (or since a kill while) the staged tables move in
RECOVER_TIMEOUT = 10.0  # seconds a load waits for a live writer's move to end


def move_in(download: Path, files: Sequence[Path], folder: Path) -> None:
    """Move ``files`` (in ``download/tables``) into ``folder``; the caller holds its lock."""
    marker = download / MARKER
    marker.write_text(json.dumps({"pid": os.getpid(), "files": [f.name for f in files]}))
    for f in files:
        os.replace(f, folder / f.name)
    marker.unlink()


def _pending(folder: Path, names: Iterable[str]) -> list[Path]:
    return [folder / n for n in names
            if n.startswith(DOWNLOAD_PREFIX) and (folder / n / MARKER).is_file()]


def _finish(download: Path, folder: Path) -> None:
    """The renames a killed writer did not make: every file still staged (those it made are
    gone from there), then its download folder."""
    staged = download / STAGED
    for f in sorted(staged.iterdir()) if staged.is_dir() else []:
        if f.is_file() and not f.is_symlink():
            os.replace(f, folder / f.name)
    (download / MARKER).unlink()
    shutil.rmtree(download, ignore_errors=True)


def finish_killed_moves(folder: Path, names: Iterable[str] | None = None,
                        timeout: float = RECOVER_TIMEOUT) -> list[str]:
    """Finish every move a killed download left half-done in ``folder`` (``names``: its
    entries, when the caller has listed them already). Returns one warning line per move that
    could not be finished (the tables may be from two downloads); a finished move is silent, as
    the temp file of a killed save is removed silently."""
    try:
        downloads = _pending(folder, os.listdir(folder) if names is None else names)
    except OSError:
        return []
    if not downloads:
        return []
    try:
        with FileLock(folder, timeout=timeout):
            for download in _pending(folder, os.listdir(folder)):  # again, under the lock
                _finish(download, folder)
    except LockTimeout:
        return [f"another process is moving new tables into {folder}; until it is done they "
                "may be from two downloads"]
    except OSError as exc:  # a read-only folder (ReadOnlyCacheError), a full disk
        return [f"a download stopped half-way through moving new tables into {folder} and "
                f"the rest could not be moved in ({one_line(exc)}): the tables may be from "
                "two downloads until it can"]
    return []
