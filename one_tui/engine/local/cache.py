"""The ``Cache``: the tables of one folder in memory, what changed, and how fresh they are.

This module exists so that one object owns the in-memory state of a folder's tables: what was
read and from which file (so a save knows whether the disk changed since), which tables changed
(so a save writes only those), ``meta`` (ONE 2.x's ``_meta``), the datasets as codes until
their rows are needed (``codes``), and the one freshness rule (``core.freshness``) with the
clock it is judged by. Reading a folder and writing one are ``store``; where a table lives is
``layout``; the rows themselves are merged by ``merge`` (DataFrames only). ``store`` uses the
small public API below (``changed_tables``, ``frame``, ``file_state``, ``mark_saved``, …); no
other module touches a Cache's private state.

For speed at IBL scale the datasets table keeps ``rel_path`` as a categorical (a few hundred
unique paths over a million rows) and is only read the first time it is needed.
"""

from __future__ import annotations

# isort: split
# fileformat first: it sets Arrow's memory pool before anything imports pyarrow
from one_tui.engine.local import fileformat  # noqa: F401

# isort: split
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from one_tui.engine.core.freshness import DATE_FORMAT, DEFAULT_EXPIRY, Freshness, parse_created
from one_tui.engine.core.spec import one_line, shown
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.fileformat import InvalidTableError, empty_table, read_table
from one_tui.engine.local.layout import stat
from one_tui.engine.local.merge import merge_frames, merge_origins
from one_tui.engine.local.repairs import Repairs

__all__ = ["Cache", "FileState"]

log = logging.getLogger("one_tui.engine")

#: The tables Alyx publishes (and a download replaces): their age is the tables' age.
PUBLISHED_TABLES = ("sessions", "datasets")


@dataclass(frozen=True)
class FileState:
    """The file a table was read from (or last written to) and its ``layout.stat`` then."""

    path: Path
    stat: tuple[int, int]


def _as_category(df: pd.DataFrame) -> pd.DataFrame:
    """``rel_path`` as a categorical (few unique paths over many rows), in place."""
    if "rel_path" in df.columns and df["rel_path"].dtype != "category":
        df["rel_path"] = df["rel_path"].astype("category")
    return df


class Cache:
    """The tables of one folder: ``sessions`` eagerly, ``datasets`` on first access.

    ``meta`` mirrors ONE 2.x's ``_meta``; ``warnings`` collects one line per skipped file.
    ``on_warning``, when set, also gets each warning as it happens: the deferred ``datasets``
    read finds a corrupt file long after load time, when nobody looks at ``warnings``.
    ``clock`` is "now" for ``loaded_time`` and expiry (the One's clock, so the mode policy and
    ``meta`` cannot disagree).
    """

    def __init__(self, tables_dir: str | os.PathLike[str],
                 cache_expiry: timedelta = DEFAULT_EXPIRY,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.tables_dir = Path(tables_dir)
        self.clock = clock
        self.warnings: list[str] = []
        self.on_warning: Callable[[str], None] | None = None
        self.row_counts: dict[str, int] = {}
        #: tables found on disk that could not be read: {name: why}. Never written over.
        self.unreadable: dict[str, str] = {}
        self._told: set[str] = set()  # repair notices given (see ``_repaired``)
        self._tables: dict[str, pd.DataFrame] = {}
        self._pending: dict[str, Path] = {}  # files found, not read yet
        self._modified: set[str] = set()
        self._files: dict[str, FileState] = {}  # what each table was read from
        #: the datasets file as codes while its rows are not loaded (see ``datasets_for_query``)
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

    # -- freshness ------------------------------------------------------------------------------
    @property
    def freshness(self) -> Freshness:
        """The tables' creation and load times and their expiry: the one expiry rule.

        Created is the oldest ``date_created`` of the tables Alyx publishes (sessions,
        datasets); ONE takes the minimum over *every* table, so an insertions table saved from
        REST merges made fresh tables look old and re-downloaded at each start (ONE issue
        #139). Without those two, the oldest of the tables present.
        """
        raw = self.meta["raw"]
        published = [n for n in PUBLISHED_TABLES if n in raw]
        times = [t for n in (published or raw)
                 if (t := parse_created(raw[n].get("date_created"))) is not None]
        return Freshness(min(times) if times else None, self.meta["loaded_time"],
                         self.meta["cache_expiry"])

    @property
    def expiry(self) -> timedelta:
        return self.meta["cache_expiry"]  # type: ignore[no-any-return]

    @expiry.setter
    def expiry(self, value: timedelta) -> None:
        self.meta["cache_expiry"] = value
        self._update_times()

    def is_expired(self, now: datetime | None = None) -> bool:
        """ONE 2.x rule: no tables, or the tables are older than ``cache_expiry``."""
        return self.freshness.expired(now or self.clock())

    def _update_times(self) -> None:
        """``meta``'s copies of the freshness (ONE's ``_meta`` keys, read by its modes page)."""
        freshness = self.freshness
        self.meta["created_time"] = freshness.created
        self.meta["expired"] = freshness.expired(self.clock())

    # -- table access -------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """One warning line (``warnings``, the log, ``on_warning``)."""
        message = shown(message, limit=500)  # file names in a shared folder can hold anything
        log.warning(message)
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def _repaired(self, notice: str | None) -> None:
        """Warn once what a read changed to bring a table to ONE's types (the codes and the
        full read of one file find the same rows)."""
        if notice is not None and notice not in self._told:
            self._told.add(notice)
            self.warn(notice)

    def table(self, name: str) -> pd.DataFrame:
        """A table by name, reading it now if it was deferred; empty if there is none."""
        if name not in self._tables and name in self._pending:
            path = self._pending.pop(name)
            try:
                state = FileState(path, stat(path))  # before the read: a change makes save merge
                repairs = Repairs()
                df, meta = read_table(path, repairs=repairs)
                self._repaired(repairs.notice(path.name))
                self.meta["raw"][name] = meta
                self.row_counts[name] = len(df)
                self._files[name] = state
                self.unreadable.pop(name, None)
            except (InvalidTableError, KeyError, OSError) as exc:
                self.mark_unreadable(name, str(exc) if isinstance(exc, InvalidTableError)
                                     else f"{path.name} could not be read ({one_line(exc)}). "
                                     "Skipping")
                df = empty_table(name)
            if name == "datasets":
                # rows merged into the codes meanwhile, merged again in the same order
                for new in self._deltas:
                    df = _as_category(merge_frames(df, new, name))
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
            self._repaired(codes.repairs.notice(codes.path.name))
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
        self._repaired(codes.repairs.notice(codes.path.name))
        return True

    def datasets_ready(self) -> bool:
        """True when a dataset query answers without reading the file first."""
        return ("datasets" in self._tables or self._codes is not None
                or "datasets" not in self._pending)

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

    # -- merging --------------------------------------------------------------------------------
    def merge(self, origin: str | None = None, sessions: pd.DataFrame | None = None,
              datasets: pd.DataFrame | None = None,
              insertions: pd.DataFrame | None = None) -> None:
        """Merge new records (e.g. from Alyx) into the tables in memory (ONE §2.8); a save
        writes them (``store.save_cache``). New datasets go into the codes while the frame is
        not loaded (replayed onto it when it loads)."""
        now = datetime.now()  # a file stamp (date_created): wall time, not the expiry clock
        for name, new in (("sessions", sessions), ("datasets", datasets),
                          ("insertions", insertions)):
            if new is None:
                continue
            if name == "datasets" and self._merge_codes(new):
                self.row_counts[name] = len(self._codes or ())
            else:
                merged = _as_category(merge_frames(self.table(name), new, name))
                self._tables[name] = merged
                self._pending.pop(name, None)
                self.row_counts[name] = len(merged)
            self._modified.add(name)
            raw = self.meta["raw"].setdefault(
                name, {"date_created": now.strftime(DATE_FORMAT), "origin": []})
            if origin:  # the table's own origin first (see file_origin), REST origins after it
                raw["origin"] = merge_origins(raw.get("origin"), origin)
        self.meta["modified_time"] = now
        self._update_times()

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

    # -- what ``store`` reads and records -----------------------------------------------------
    def found_file(self, name: str, path: Path, meta: dict[str, Any], nrows: int) -> None:
        """A table file found by a load (its footer read); its rows are read by ``table``,
        at once or when first used (datasets)."""
        self.meta["raw"][name] = meta
        self.row_counts[name] = nrows
        self._pending[name] = path

    def mark_unreadable(self, name: str, why: str) -> None:
        """Warn, and remember that the file of ``name`` exists but was not read: a save must
        not replace it with what this Cache holds (it never saw the rows in it)."""
        self.warn(why)
        self.unreadable[name] = why
        self._files.pop(name, None)
        self.meta["raw"].pop(name, None)
        self.row_counts.pop(name, None)
        self._update_times()

    def mark_loaded(self) -> None:
        """A load finished: ``loaded_time`` (by the clock) when it found tables."""
        if self.meta["raw"]:
            self.meta["loaded_time"] = self.clock()
        self._update_times()

    def changed_tables(self) -> list[str]:
        """The tables changed since load or save, sorted, each held as a frame (rows merged
        into the datasets codes are replayed into the frame first: a file is written from a
        frame)."""
        if "datasets" in self._modified and self._deltas:
            self.table("datasets")
        return sorted(self._modified)

    def frame(self, name: str) -> pd.DataFrame | None:
        """The in-memory frame of a table, None when it is not loaded (nothing read or merged)."""
        return self._tables.get(name)

    def file_state(self, name: str) -> FileState | None:
        """The file this Cache read table ``name`` from (or last saved it to) and its stat
        then; None when it never read one, or could not (see ``unreadable``)."""
        if name in self.unreadable:
            return None
        return self._files.get(name)

    def mark_saved(self, name: str, df: pd.DataFrame, meta: dict[str, Any],
                   state: FileState | None) -> None:
        """Table ``name`` was written with ``meta``; with ``state`` (a save into this Cache's own
        folder) memory now holds what that file holds, ``df`` (the rows merged from disk too),
        so the next save may skip the merge only because of that."""
        self.meta["raw"][name] = meta
        self._modified.discard(name)
        if state is not None:
            if df is not self._tables.get(name):
                self._tables[name] = _as_category(df)
                self.row_counts[name] = len(df)
            self._files[name] = state
            if state.path.parent == self.tables_dir:
                self.unreadable.pop(name, None)
        self._update_times()

    def mark_all_saved(self, now: datetime) -> None:
        """Every changed table was written (none refused): nothing left to save."""
        self._modified.clear()
        self.meta["saved_time"] = now

    def __repr__(self) -> str:
        tables = ", ".join(f"{n}={self.row_counts.get(n, '?')}" for n in self.table_names)
        return f"<Cache {self.tables_dir} ({tables or 'no tables'})>"
