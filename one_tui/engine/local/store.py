"""Saving a Cache into a folder shared with ONE-api: merged with the disk, under the locks.

This module exists for the sharing rule (docs/sharing-with-one-api.md): **a table file this
Cache could not read is never written over**; every save takes ONE's locks (``SAVE_LOCK_TIMEOUT``),
merges each changed table with its file on disk, and cleans up temporary files left by killed
saves. It also says where one-tui keeps a table (``table_path``: insertions in ``PRIVATE_DIR``,
out of ONE's reach). It changes when the way one-tui shares a folder with ONE-api changes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from one_tui.engine.local.fileformat import (
    DATE_FORMAT,
    InvalidTableError,
    _one_line,
    _parse_created,
    read_table,
)
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.lock import FileLock, LockTimeout, ReadOnlyCacheError
from one_tui.engine.local.merge import _merge_frames, _origins

if TYPE_CHECKING:
    from one_tui.engine.local.cache import Cache


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _earliest(a: dict, b: dict) -> str | None:
    times = [(t, m["date_created"]) for m in (a, b) if (t := _parse_created(m)) is not None]
    return min(times)[1] if times else None


#: A table's temporary file untouched this long was left by a save that was killed.
STALE_TEMP = timedelta(minutes=10)


def _remove_stale_temps(folder: Path) -> None:
    """Delete ``<table>.pqt.tmp-*`` files left by killed saves (each as big as its table).
    Called under the lock, so no live save of ours is writing one; the age spares a writer on
    another host whose lock was broken as stale."""
    cutoff = (datetime.now() - STALE_TEMP).timestamp()
    for path in [*folder.glob("*.pqt.tmp-*"), *(folder / PRIVATE_DIR).glob("*.pqt.tmp-*")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


#: Tables save_cache writes beside ONE's. ``insertions.pqt`` is not among them: ONE 3.6.1's
#: save_cache merges its memory into the tables on disk and then looks every disk table up in
#: its own metadata, so an insertions.pqt it did not load (ONE 3.x starts in remote mode with
#: no tables) raises ``KeyError: 'insertions'`` (and one it holds that the disk lacks raises
#: ``KeyError: 'Table "insertions" not in cache'``). one-tui keeps the insertions it merged in
#: ``PRIVATE_DIR/insertions.pqt``, out of ONE's ``*.pqt`` glob (which is not recursive).
SAVED_TABLES = ("sessions", "datasets", "insertions")
#: Seconds a save waits for another program's lock before giving up (tables stay modified).
SAVE_LOCK_TIMEOUT = 10.0
PRIVATE_DIR = ".one-tui"
PRIVATE_TABLES = ("insertions",)


def table_path(folder: Path, name: str) -> Path:
    """Where save_cache writes table ``name`` in ``folder``."""
    return folder / PRIVATE_DIR / f"{name}.pqt" if name in PRIVATE_TABLES else \
        folder / f"{name}.pqt"


def _exists(path: Path) -> bool:
    """A name is taken (a broken or looping symlink counts: it is not ours to replace)."""
    return os.path.lexists(path)


def _save_one(cache: Cache, name: str, folder: Path, now: datetime) -> str | None:
    """Write one table merged with the file on disk; the reason when it was refused."""
    df = cache._tables[name]
    meta = dict(cache.meta["raw"].get(name, {}))
    path = table_path(folder, name)
    ours = folder == cache.tables_dir and cache._sources.get(name) == path
    path.parent.mkdir(exist_ok=True)
    if _exists(path):
        try:
            same_file = (ours and name not in cache.unreadable
                         and cache._file_stats.get(name) == _stat(path))
        except OSError:
            same_file = False
        if not same_file:  # changed on disk since we read it, or never read: merge with it
            try:
                disk, disk_meta = read_table(path)
            except (InvalidTableError, KeyError, OSError) as exc:
                why = str(exc) if isinstance(exc, InvalidTableError) else _one_line(exc)
                return why.removesuffix(". Skipping")
            df = _merge_frames(disk, df, name) if len(disk) else df
            meta["date_created"] = _earliest(meta, disk_meta) or meta.get("date_created")
            meta["origin"] = _origins(disk_meta.get("origin"), meta.get("origin"))
    meta["date_modified"] = now.strftime(DATE_FORMAT)
    save_table(df, path, meta)
    cache.meta["raw"][name] = meta
    if folder == cache.tables_dir:
        # memory now holds what the file holds: the next save may skip the merge only because
        # of that (a stat matching our own write used to drop the rows merged from disk)
        if df is not cache._tables[name]:
            if "rel_path" in df.columns and df["rel_path"].dtype != "category":
                df["rel_path"] = df["rel_path"].astype("category")
            cache._tables[name] = df
            cache.row_counts[name] = len(df)
        cache._file_stats[name] = _stat(path)
        cache._sources[name] = path
        if path.parent == folder:
            cache.unreadable.pop(name, None)
    return None


def save_cache(cache: Cache, save_dir: str | os.PathLike[str] | None = None) -> bool:
    """Write the tables changed since load/save, merged with what is on disk, under the lock.

    The rule: **a table file this Cache could not read is never written over.** Under the
    lock every changed table is merged with its file on disk (rows another program wrote since
    we read it survive); a file that cannot be read then (another user's, truncated, not a ONE
    table, a symlink loop, being unzipped) is left as it is and that table is not saved. Each
    refusal, and a lock held too long by another program, is one warning line (``warnings`` /
    ``on_warning``, which One shows as a notice). Tables refused stay modified in memory, so a
    later save tries again.

    Returns True when at least one table was written, False when there was nothing to save or
    nothing could be. A read-only folder raises ReadOnlyCacheError (a PermissionError).
    """
    modified = cache.meta["modified_time"]
    later = [t for t in (cache.meta["loaded_time"], cache.meta["saved_time"]) if t is not None]
    if modified is None or any(modified <= t for t in later):
        return False
    if "datasets" in cache._modified and cache._deltas:
        cache.table("datasets")  # rows merged into the codes: the file is written from a frame
    names = [n for n in sorted(cache._modified)
             if n in SAVED_TABLES and len(cache._tables.get(n, ())) > 0]
    if not names:
        return False
    folder = Path(save_dir or cache.tables_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise ReadOnlyCacheError(f"Cache directory is read-only: {folder}") from None
    if not os.access(folder, os.W_OK):
        raise ReadOnlyCacheError(f"Cache directory is read-only: {folder}")
    now = datetime.now()
    saved, refused = [], []
    try:
        with FileLock(folder, timeout=SAVE_LOCK_TIMEOUT):
            _remove_stale_temps(folder)
            for name in names:
                why = _save_one(cache, name, folder, now)
                if why is None:
                    saved.append(name)
                else:
                    refused.append(name)
                    cache._warn(f"{name}.pqt not saved: it could not be read ({why}); the file "
                                "on disk was left as it is")
    except LockTimeout as exc:
        cache._warn(f"tables not saved: {_one_line(exc)}; they stay in memory and the next "
                    "save tries again")
        return False
    cache._modified.difference_update(saved)
    if not refused:
        cache._modified.clear()
        cache.meta["saved_time"] = now
    cache._update_times()
    return bool(saved)
