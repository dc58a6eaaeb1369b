"""Cache tables: the ``Cache`` of one folder, with a lazily loaded datasets table.

Files are the ones ONE-api reads and writes (``sessions.pqt``, ``datasets.pqt``; one-tui keeps
its insertions in ``.one-tui/insertions.pqt``, see ``SAVED_TABLES``). This module holds the
``Cache`` (what was read, ``_meta``, which tables changed, the datasets as codes until their rows
are needed) and ``load_cache``; it is also the entry point the rest of one-tui imports, re-exporting
the table functions that live in their own modules:

- ``tableformat``: reading a table file in ONE's format (legacy patches, pandas metadata);
- ``tablewrite``: writing one, atomically (``save_table``, ``file_origin``);
- ``merge``: merging rows into tables by ONE's rules (``merge_tables``);
- ``codes``: the datasets table as integer codes for queries (``DatasetCodes``);
- ``cachesave``: ``save_cache``, merged with the disk under ONE's locks.

Tuning constants are patched where they are used: ``tablewrite.ROW_GROUP_SIZE``,
``merge.LARGE_TABLE``, ``cachesave.SAVE_LOCK_TIMEOUT`` (not re-exported here, so that setting
them on this module cannot silently do nothing).

For speed at IBL scale the datasets table keeps ``rel_path`` as a categorical (a few hundred unique
paths over a million rows) and is only read the first time it is needed.
"""

from __future__ import annotations

# isort: split
# tableformat first: it sets Arrow's memory pool before anything imports pyarrow
from one_tui.engine.local import fileformat as tableformat  # noqa: F401

# isort: split
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from one_tui.engine.core.errors import CacheDirError
from one_tui.engine.core.spec import shown
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.fileformat import (
    DATE_FORMAT,
    Cancelled,
    InvalidTableError,
    _one_line,
    _parse_created,
    check_table,
    empty_table,
    qc_categorical,
    read_metadata,
    read_table,
)
from one_tui.engine.local.filewrite import file_origin, save_table
from one_tui.engine.local.merge import _merge_frames, merge_tables
from one_tui.engine.local.store import (
    PRIVATE_DIR,
    PRIVATE_TABLES,
    SAVED_TABLES,
    _stat,
    save_cache,
    table_path,
)

__all__ = [
    "Cache",
    "InvalidTableError",
    "read_table",
    "save_table",
    "load_cache",
    "merge_tables",
    "save_cache",
    "empty_table",
    "qc_categorical",
    "DATE_FORMAT",
    "SAVED_TABLES",
    "PRIVATE_DIR",
    "table_path",
    "file_origin",
    "DatasetCodes",
    "Cancelled",
    "check_table",
]

log = logging.getLogger("one_tui.engine")


class Cache:
    """The tables of one folder: ``sessions`` eagerly, ``datasets`` on first access.

    ``meta`` mirrors ONE 2.x's ``_meta``; ``warnings`` collects one line per skipped file.
    ``on_warning``, when set, also gets each warning as it happens: the deferred ``datasets``
    read finds a corrupt file long after load time, when nobody looks at ``warnings``.
    """

    def __init__(self, tables_dir: str | os.PathLike[str],
                 cache_expiry: timedelta = timedelta(hours=24)) -> None:
        self.tables_dir = Path(tables_dir)
        self.warnings: list[str] = []
        self.on_warning: Callable[[str], None] | None = None
        self.row_counts: dict[str, int] = {}
        self._tables: dict[str, pd.DataFrame] = {}
        self._pending: dict[str, Path] = {}
        self._modified: set[str] = set()
        self._file_stats: dict[str, tuple[int, int]] = {}  # what was read: (mtime_ns, size)
        #: tables found on disk that could not be read: {name: why}. Never written over.
        self.unreadable: dict[str, str] = {}
        self._sources: dict[str, Path] = {}  # the file each table was read from
        #: the datasets file as codes while its rows are not loaded (see ``for_query``)
        self._codes: DatasetCodes | None = None
        #: the datasets merged into the codes, in order: replayed onto the frame when it loads
        self._deltas: list[pd.DataFrame] = []
        self.meta: dict[str, Any] = {
            "created_time": None, "loaded_time": None, "expired": True, "raw": {},
            "modified_time": None, "saved_time": None, "cache_expiry": cache_expiry,
        }

    @property
    def _meta(self) -> dict[str, Any]:
        """ONE's spelling of ``meta`` (``one._cache._meta`` in ONE's modes page): the same dict."""
        return self.meta

    # -- table access -------------------------------------------------------------------------
    def _warn(self, message: str) -> None:
        message = shown(message, limit=500)  # file names in a shared folder can hold anything
        log.warning(message)
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def table(self, name: str) -> pd.DataFrame:
        """A table by name, reading it now if it was deferred; empty if there is none."""
        if name not in self._tables and name in self._pending:
            path = self._pending.pop(name)
            try:
                stat = _stat(path)  # before the read: a later change makes the save merge
                df, meta = read_table(path)
                self.meta["raw"][name] = meta
                self.row_counts[name] = len(df)
                self._file_stats[name] = stat
                self._sources[name] = path
                self.unreadable.pop(name, None)
            except (InvalidTableError, KeyError, OSError) as exc:
                message = (str(exc) if isinstance(exc, InvalidTableError)
                           else f"{path.name} could not be read ({_one_line(exc)}). Skipping")
                self._warn(message)
                self._mark_unreadable(name, message)
                df = empty_table(name)
            if name == "datasets":
                # rows merged into the codes meanwhile, merged again in the same order
                for new in self._deltas:
                    df = _merge_frames(df, new, name)
                    if "rel_path" in df.columns and df["rel_path"].dtype != "category":
                        df["rel_path"] = df["rel_path"].astype("category")
                if self._deltas:
                    self.row_counts[name] = len(df)
                self._deltas = []
                self._codes = None  # the frame answers from now on (and takes merges)
            self._tables[name] = df
        if name not in self._tables:
            self._tables[name] = empty_table(name)
        return self._tables[name]

    def datasets_for_query(self) -> pd.DataFrame | DatasetCodes:
        """The datasets table as a query reads it: the loaded frame when there is one, else the
        file's codes (read now if needed: a few bytes a row, no pandas rows). A table the codes
        cannot describe (legacy, corrupt) is loaded as a frame, with its warning."""
        if "datasets" in self._tables or "datasets" not in self._pending:
            return self.datasets
        if self._codes is None:
            codes = self.read_dataset_codes()
            if codes is None:
                return self.datasets
            self._codes = codes
        return self._codes

    def read_dataset_codes(self, cancel: threading.Event | None = None
                           ) -> DatasetCodes | None:
        """Read the pending datasets file as codes without keeping them (``adopt_codes`` does);
        None when there is nothing to read that way or the file is bad (the frame load then
        reports it). Safe outside the caller's lock: it only reads the file. Raises Cancelled."""
        path = self._pending.get("datasets")
        if path is None or "datasets" in self._tables:
            return None
        try:
            return DatasetCodes.read(path, cancel)
        except (InvalidTableError, OSError):
            return None

    def adopt_codes(self, codes: DatasetCodes | None) -> bool:
        """Keep codes read by ``read_dataset_codes`` (e.g. in a background worker) if the table
        is still unloaded and from that file; True when the datasets are ready to query."""
        if "datasets" in self._tables or self._codes is not None:
            return True
        if codes is None or self._pending.get("datasets") != codes.path:
            return False
        self._codes = codes
        return True

    def _merge_codes(self, new: pd.DataFrame) -> bool:
        """Merge new datasets rows into the codes when the frame is not loaded (see
        DatasetCodes.merge); False when the frame must take them."""
        codes = self._codes
        if codes is None or "datasets" in self._tables or "datasets" not in self._pending:
            return False
        if not codes.merge(new):
            return False
        self._deltas.append(new.copy())
        return True

    def datasets_ready(self) -> bool:
        """True when a dataset query answers without reading the file first."""
        return ("datasets" in self._tables or self._codes is not None
                or "datasets" not in self._pending)

    def _mark_unreadable(self, name: str, why: str) -> None:
        """Remember that the file of ``name`` exists but was not read: a save must not replace
        it with what this Cache holds (it never saw the rows in it)."""
        self.unreadable[name] = why
        self._file_stats.pop(name, None)
        self.meta["raw"].pop(name, None)
        self.row_counts.pop(name, None)
        self._update_times()

    def is_loaded(self, name: str) -> bool:
        """True once a table is in memory (``datasets`` stays unloaded until first used)."""
        return name in self._tables

    @property
    def table_names(self) -> list[str]:
        """Names of the tables found on disk or merged in memory."""
        return sorted(set(self._pending) | set(self._tables) | set(self.meta["raw"]))

    @property
    def sessions(self) -> pd.DataFrame:
        return self.table("sessions")

    @sessions.setter
    def sessions(self, df: pd.DataFrame) -> None:
        self._tables["sessions"] = df

    @property
    def datasets(self) -> pd.DataFrame:
        return self.table("datasets")

    @datasets.setter
    def datasets(self, df: pd.DataFrame) -> None:
        self._pending.pop("datasets", None)
        self._codes = None
        self._deltas = []
        self._tables["datasets"] = df

    @property
    def insertions(self) -> pd.DataFrame:
        return self.table("insertions")

    @insertions.setter
    def insertions(self, df: pd.DataFrame) -> None:
        self._pending.pop("insertions", None)
        self._tables["insertions"] = df

    @property
    def has_insertions(self) -> bool:
        """True when an insertions table exists on disk or was merged in memory."""
        return "insertions" in self._pending or (
            "insertions" in self._tables and "insertions" in self.meta["raw"])

    # -- _meta --------------------------------------------------------------------------------
    def _update_times(self) -> None:
        created = [t for t in map(_parse_created, self.meta["raw"].values()) if t is not None]
        self.meta["created_time"] = min(created) if created else None
        self.meta["expired"] = self.is_expired()

    def is_expired(self, now: datetime | None = None) -> bool:
        """ONE 2.x rule: no tables, or the oldest table is older than ``cache_expiry``."""
        created = self.meta["created_time"]
        if created is None:
            return True
        return (now or datetime.now()) - created > self.meta["cache_expiry"]

    def __repr__(self) -> str:
        tables = ", ".join(f"{n}={self.row_counts.get(n, '?')}" for n in self.table_names)
        return f"<Cache {self.tables_dir} ({tables or 'no tables'})>"


_DEFERRED = {"datasets"}


def load_cache(tables_dir: str | os.PathLike[str],
               cache_expiry: timedelta = timedelta(hours=24)) -> Cache:
    """Load every ``*.pqt`` of a folder; ``datasets`` is deferred until first accessed.

    A missing folder gives an empty (expired) cache; an unreadable one raises CacheDirError. A file
    that is not a ONE table, or is corrupt, is skipped with a warning (never deleted).
    """
    cache = Cache(tables_dir, cache_expiry)
    folder = cache.tables_dir
    if not folder.exists():
        return cache
    try:  # every *.pqt name, as ONE's glob sees them: a symlink loop or a folder is a table
        files = sorted(p for p in folder.iterdir() if p.name.endswith(".pqt"))  # we cannot read
    except OSError as exc:
        raise CacheDirError(
            f"Cache directory not accessible: {folder} ({exc.strerror or exc}). Please provide "
            "valid tables_dir / cache_dir kwargs or run ONE.setup to update the default directory."
        ) from None
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
            message = str(exc) if isinstance(exc, InvalidTableError) else (
                f"{path.name} could not be read ({_one_line(exc)}). Skipping")
            cache._warn(message)
            cache._mark_unreadable(name, message)
            continue
        cache.meta["raw"][name] = meta
        cache.row_counts[name] = nrows
        cache._pending[name] = path
        if name not in _DEFERRED:
            cache.table(name)
    if cache.meta["raw"]:
        cache.meta["loaded_time"] = datetime.now()
    cache._update_times()
    return cache


# ---------------------------------------------------------------------------------------------
# Merging and saving
