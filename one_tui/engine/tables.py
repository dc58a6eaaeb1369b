"""The tables ``One`` works on: the current Cache, the lock that guards it, and its folder.

It exists so the parts of ``One`` (the queries, the Alyx backend, the table jobs, the mode
policy) share the in-memory tables through one declared object instead of a mixin's ``_cache``
and ``_lock``. A download swaps in a new Cache (:meth:`Tables.load`); readers take ``lock``
around every use of ``cache``, so a swap or a merge never shows them half a table.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from one_tui.engine.core.errors import CacheDirError
from one_tui.engine.core.freshness import Freshness
from one_tui.engine.core.results import Notices
from one_tui.engine.local import fileformat, store
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.lock import ReadOnlyCacheError

if TYPE_CHECKING:  # the state's values are for the app and the CLI, not for a local search
    from one_tui.engine.core.values import TableInfo

__all__ = ["Tables", "prepare_folder"]

_READ_ONLY = "cache folder is read-only: nothing will be saved"


def prepare_folder(folder: Path) -> bool:
    """Create the cache folder; True when it can be written (a read-only one is still used)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheDirError(
            f"Cache directory not accessible: {folder} ({exc.strerror or exc}). Please "
            "provide a valid cache_dir or run ONE.setup to update the default directory."
        ) from None
    if not os.access(folder, os.W_OK):
        return False
    try:  # os.access alone misses read-only mounts
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".one-tui-probe-"):
            pass
    except OSError:
        return False
    return True


class Tables:
    """The in-memory tables of one cache folder, swapped whole on a reload."""

    def __init__(self, folder: Path, expiry: timedelta, notices: Notices,
                 read_only: bool = False,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        #: ONE's ``cache_dir``: the data files and the full tables (fixed for the session)
        self.cache_dir = folder
        #: the active set: None for the full tables, or a release tag (``use``)
        self.tag: str | None = None
        #: ONE's ``tables_dir``: ``cache_dir``, or ``cache_dir/<tag>`` for a tag's tables
        self.folder = folder
        self.lock = threading.RLock()
        self.read_only = read_only
        #: "now" of the tables' load time and expiry (One passes its policy's clock)
        self.clock = clock
        self.cache = Cache(folder, expiry, clock)
        self._expiry = expiry
        self._notices = notices
        self._merged_sessions: dict[str, str] = {}  # eid -> datasets last merged (JSON)

    # -- expiry -----------------------------------------------------------------------------------
    @property
    def expiry(self) -> timedelta:
        return self._expiry

    def set_expiry(self, value: timedelta, now: datetime) -> None:
        """A new ``cache_expiry``; ``meta`` shows the new rule (the modes page reads it)."""
        self._expiry = value
        with self.lock:
            self.cache.meta["cache_expiry"] = value
            self.cache.meta["expired"] = self.freshness().expired(now)

    def created_time(self) -> datetime | None:
        """Creation time of the tables Alyx publishes (see ``Cache.freshness``)."""
        return self.freshness().created

    def freshness(self) -> Freshness:
        """The tables' creation and load times and expiry: every expiry decision asks this."""
        with self.lock:
            return self.cache.freshness

    def describe(self) -> tuple[TableInfo, ...]:
        """Each table on disk or merged: rows, ``date_created`` and origin (the Cache pane)."""
        from one_tui.engine.core.values import TableInfo

        with self.lock:
            raw = self.cache.meta["raw"]
            return tuple(
                TableInfo(name, self.cache.row_counts.get(name),
                          _text(raw[name].get("date_created")), _origin(raw[name].get("origin")))
                for name in self.cache.table_names if name in raw)

    def origin_of(self, name: str) -> object:
        """A table's ``origin`` as its metadata holds it (a string, or a list after merges)."""
        with self.lock:
            return self.cache.meta["raw"].get(name, {}).get("origin")

    def when(self) -> str:
        """The tables' creation time as a user reads it."""
        created = self.created_time()
        return created.strftime("%Y-%m-%d %H:%M") if created else "nowhere (no tables)"

    @property
    def loaded_time(self) -> datetime | None:
        with self.lock:
            loaded: datetime | None = self.cache.meta["loaded_time"]
        return loaded

    @property
    def has_tables(self) -> bool:
        with self.lock:
            return bool(self.cache.meta["raw"])

    # -- loading, merging, saving -----------------------------------------------------------------
    def load(self) -> datetime | None:
        """Read the tables on disk (datasets lazily) and swap them in; returns the load time."""
        cache = store.load_cache(self.folder, self._expiry, self.clock)
        for warning in cache.warnings:
            self._notices.warn(warning)
        # later ones (a corrupt datasets.pqt found on first access, a file overwritten on save)
        # reach the app too, each once; the Cache has logged them already
        cache.on_warning = self._notices.queue
        with self.lock:
            self.cache = cache
            self._merged_sessions = {}
        loaded: datetime | None = cache.meta["loaded_time"]
        return loaded

    def use(self, tag: str | None, folder: Path | None = None) -> None:
        """Make ``tag``'s tables (None: the full ones) the active set and load them from
        ``folder`` (default ``<cache_dir>/<tag>``, where ONE's ``load_cache(tag=...)`` puts
        them). Nothing is downloaded or written. A folder whose tables carry a tag is that
        tag's set whatever was asked (a ``cache_dir`` pointed at a tag folder), so the full
        tables are never fetched into it (ONE 2.11.2's trap C)."""
        from one_tui.engine.core.sets import check_tag
        from one_tui.engine.tablesets import disk_tags

        if tag is not None:
            check_tag(tag)
        where = folder or (self.cache_dir / tag if tag else self.cache_dir)
        if tag is None and (held := disk_tags(where)):
            tag = held[0]
            self._notices.warn(f"{where} holds the tables of tag {tag}: working on that tag")
        with self.lock:
            self.tag = tag
            self.folder = where
        self.load()

    def adopt(self, checked: dict[str, pd.DataFrame]) -> None:
        """Hand the frames a download read to check them to the Cache just loaded (no second
        read); only datasets and insertions, whose loads are the costly ones."""
        with self.lock:
            for name in ("datasets", "insertions"):
                if name in checked and name in self.cache.meta["raw"]:
                    setattr(self.cache, name, checked[name])

    def merge(self, origin: str | None, sessions: pd.DataFrame | None = None,
              datasets: pd.DataFrame | None = None,
              insertions: pd.DataFrame | None = None) -> None:
        """Merge REST rows into the in-memory tables (§2.8)."""
        with self.lock:
            self.cache.merge(origin=origin, sessions=sessions, datasets=datasets,
                             insertions=insertions)

    @staticmethod
    def _answer_key(record: dict[str, Any]) -> str:
        return json.dumps(record.get("data_dataset_session_related"), sort_keys=True, default=str)

    def merged_before(self, eid: str, record: dict[str, Any]) -> bool:
        """Whether this same ``/sessions/<eid>`` answer is already merged into these tables (a
        REST-cache hit): merging into a 1.5M-row datasets table costs about half a second."""
        with self.lock:
            return self._merged_sessions.get(eid) == self._answer_key(record)

    def note_merged(self, eid: str, record: dict[str, Any]) -> None:
        with self.lock:
            self._merged_sessions[eid] = self._answer_key(record)

    def save(self) -> bool:
        """Write the tables changed by remote merges, merged with those on disk, under the lock."""
        if self.read_only:
            self._notices.warn(_READ_ONLY)
            return False
        if self.tag is not None:  # a release is replaced whole by a download, never merged into
            self._notices.warn(f"tag {self.tag}'s tables are a release: rows merged from Alyx "
                               "stay in memory, never written into its folder")
            return False
        try:
            with self.lock:
                return store.save_cache(self.cache)
        except ReadOnlyCacheError:
            self.read_only = True
            self._notices.warn(_READ_ONLY)
            return False

    def preload_datasets(self, cancel: threading.Event | None = None) -> bool:
        """Read the datasets table (as codes, see ``local.codes``) now, so the first dataset
        query does not pay for it; meant for a background worker. The file is read without
        holding the lock (searches go on meanwhile). True when the datasets are ready; False
        when cancelled (``cancel`` set) or the tables changed meanwhile."""
        with self.lock:
            cache = self.cache
            if cache.datasets_ready():
                return True
        try:
            codes = cache.read_dataset_codes(cancel)
        except fileformat.Cancelled:
            return False
        with self.lock:
            if self.cache is not cache:
                return False
            if codes is None:  # a legacy or bad file: the frame load handles (and reports) it
                cache.datasets_for_query()
                return True
            return cache.adopt_codes(codes)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _origin(value: object) -> str | None:
    """A table's origin as a user reads it: REST merges make it a list (the file's origin
    first, then the Alyx each merge came from)."""
    if isinstance(value, list | tuple):
        return ", ".join(dict.fromkeys(str(v) for v in value if v)) or None
    return _text(value)
