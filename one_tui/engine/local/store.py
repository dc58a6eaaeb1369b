"""Loading a folder's tables into a Cache, and saving a Cache into a folder shared with ONE-api.

This module exists for the sharing rule (docs/sharing-with-one-api.md): **a table file this
Cache could not read is never written over**; every save takes ONE's locks (``SAVE_LOCK_TIMEOUT``),
merges each changed table with its file on disk; every load and save cleans up the temporary
files of killed saves. A load skips (never deletes) a file that is not a ONE table. It changes
when the way one-tui reads or shares a folder with ONE-api changes. It works on a Cache through
its public API only (``found_file``, ``changed_tables``, ``file_state``, ``mark_saved``, …).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from one_tui.engine.core.errors import CacheDirError
from one_tui.engine.core.freshness import DATE_FORMAT, DEFAULT_EXPIRY, parse_created
from one_tui.engine.core.spec import one_line
from one_tui.engine.local.cache import Cache, FileState
from one_tui.engine.local.fileformat import InvalidTableError, read_metadata, read_table
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.layout import (
    PRIVATE_DIR,
    PRIVATE_TABLES,
    SAVED_TABLES,
    leftover_is_dead,
    stat,
    table_path,
)
from one_tui.engine.local.lock import FileLock, LockTimeout, ReadOnlyCacheError
from one_tui.engine.local.merge import merge_frames, merge_origins
from one_tui.engine.local.movein import DOWNLOAD_PREFIX, finish_killed_moves

__all__ = ["SAVE_LOCK_TIMEOUT", "load_cache", "save_cache"]

#: Seconds a save waits for another program's lock before giving up (tables stay modified).
SAVE_LOCK_TIMEOUT = 10.0
#: Tables read only when first used (a million rows at IBL scale; most sessions never need it).
_DEFERRED = {"datasets"}


# ---------------------------------------------------------------------------------------------
# Loading


def load_cache(tables_dir: str | os.PathLike[str], cache_expiry: timedelta = DEFAULT_EXPIRY,
               clock: Callable[[], datetime] = datetime.now) -> Cache:
    """Load every ``*.pqt`` of a folder; ``datasets`` is deferred until first accessed.

    A missing folder gives an empty (expired) cache; an unreadable one raises CacheDirError. A file
    that is not a ONE table, or is corrupt, is skipped with a warning (never deleted). ``clock``
    is the Cache's "now" (``loaded_time`` and expiry).
    """
    cache = Cache(tables_dir, cache_expiry, clock)
    folder = cache.tables_dir
    if not folder.exists():
        cache.mark_loaded()
        return cache
    try:  # every *.pqt name, as ONE's glob sees them: a symlink loop or a folder is a table
        entries = os.listdir(folder)  # we cannot read
        if any(n.startswith(DOWNLOAD_PREFIX) for n in entries):  # a killed download's move
            for line in finish_killed_moves(folder, entries):
                cache.warn(line)
            entries = os.listdir(folder)
        files = sorted(folder / n for n in entries if n.endswith(".pqt"))
    except OSError as exc:
        raise CacheDirError(
            f"Cache directory not accessible: {folder} ({exc.strerror or exc}). Please provide "
            "valid tables_dir / cache_dir kwargs or run ONE.setup to update the default directory."
        ) from None
    _remove_stale_temps(folder)  # a killed save's file, as big as its table, goes at start
    names = {p.name[:-4] for p in files}
    for name in PRIVATE_TABLES:  # one-tui's own copy, when ONE has none of that table
        private = folder / PRIVATE_DIR / f"{name}.pqt"
        if name not in names and private.is_file():
            files.append(private)
    for path in files:
        name = path.name[:-4]
        try:
            meta, nrows = read_metadata(path)
        except (InvalidTableError, OSError) as exc:
            cache.mark_unreadable(name, str(exc) if isinstance(exc, InvalidTableError) else
                                  f"{path.name} could not be read ({one_line(exc)}). Skipping")
            continue
        cache.found_file(name, path, meta, nrows)
        if name not in _DEFERRED:
            cache.table(name)
    cache.mark_loaded()
    return cache


# ---------------------------------------------------------------------------------------------
# Saving


def _earliest(a: dict[str, object], b: dict[str, object]) -> object:
    """The older ``date_created`` of two tables' metadata, as written; None if neither has one."""
    times = [(t, m["date_created"]) for m in (a, b)
             if (t := parse_created(m.get("date_created"))) is not None]
    return min(times)[1] if times else None


def _remove_stale_temps(folder: Path) -> None:
    """Delete ``<table>.pqt.tmp-*`` files left by killed saves (each as big as its table):
    those ``layout.leftover_is_dead`` says nobody will finish (a live save's pid is alive, and
    its file is fresh). Called by every load and, under the lock, every save; the age it
    falls back on spares a writer on another host whose lock was broken as stale."""
    for path in [*folder.glob("*.pqt.tmp-*"), *(folder / PRIVATE_DIR).glob("*.pqt.tmp-*")]:
        try:
            if leftover_is_dead(path):
                path.unlink()
        except OSError:
            pass


def _save_one(cache: Cache, name: str, df: pd.DataFrame, folder: Path,
              now: datetime) -> str | None:
    """Write one table merged with the file on disk; the reason when it was refused."""
    meta = dict(cache.meta["raw"].get(name, {}))
    path = table_path(folder, name)
    own_folder = folder == cache.tables_dir
    path.parent.mkdir(exist_ok=True)
    if os.path.lexists(path):  # a broken or looping symlink counts: it is not ours to replace
        read = cache.file_state(name) if own_folder else None
        try:
            same_file = read is not None and read.path == path and read.stat == stat(path)
        except OSError:
            same_file = False
        if not same_file:  # changed on disk since we read it, or never read: merge with it
            try:
                disk, disk_meta = read_table(path)
            except (InvalidTableError, KeyError, OSError) as exc:
                why = str(exc) if isinstance(exc, InvalidTableError) else one_line(exc)
                return why.removesuffix(". Skipping")
            df = merge_frames(disk, df, name) if len(disk) else df
            meta["date_created"] = _earliest(meta, disk_meta) or meta.get("date_created")
            meta["origin"] = merge_origins(disk_meta.get("origin"), meta.get("origin"))
    meta["date_modified"] = now.strftime(DATE_FORMAT)
    save_table(df, path, meta)
    cache.mark_saved(name, df, meta, FileState(path, stat(path)) if own_folder else None)
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
    frames = {n: df for n in cache.changed_tables()
              if n in SAVED_TABLES and (df := cache.frame(n)) is not None and len(df) > 0}
    if not frames:
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
        with FileLock(folder, timeout=SAVE_LOCK_TIMEOUT) as lock:
            for line in lock.broken_locks:
                cache.warn(f"removed a stale lock: {line}")
            _remove_stale_temps(folder)
            for name, df in frames.items():
                why = _save_one(cache, name, df, folder, now)
                if why is None:
                    saved.append(name)
                else:
                    refused.append(name)
                    cache.warn(f"{name}.pqt not saved: it could not be read ({why}); the file "
                               "on disk was left as it is")
    except LockTimeout as exc:
        cache.warn(f"tables not saved: {one_line(exc)}; they stay in memory and the next "
                   "save tries again")
        return False
    if not refused:
        cache.mark_all_saved(now)
    return bool(saved)
