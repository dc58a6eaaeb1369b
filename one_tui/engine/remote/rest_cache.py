"""ONE's on-disk REST response cache, so one-tui and ONE-api share cached Alyx answers.

Layout (ONE-api's): ``<cache_dir>/.rest/<sha1 hex of the query string>``, each file JSON
``[raw_response, "expiry ISO datetime"]``. The query string is hashed exactly as requested
(``/sessions?subject=KS005``, or a page's full ``next`` URL). An empty response (``null``,
``[]``) counts as no entry, as in ONE 3.x; an entry that is not UTF-8 JSON is deleted and is a
miss, never an error. A cache that cannot be written
(read-only or unreachable folder) degrades to "no caching" with one note; it never raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from one_tui.engine.core import bounded
from one_tui.engine.core.atomic import atomic_write

_logger = logging.getLogger("one_tui.engine.remote.rest_cache")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class CacheEntry:
    """A cached raw response and when it stops being fresh."""

    value: Any
    expiry: datetime

    def is_fresh(self) -> bool:
        """ONE's rule: usable while the expiry is later than now."""
        now = datetime.now(self.expiry.tzinfo) if self.expiry.tzinfo else datetime.now()
        return self.expiry > now


def cache_key(query: str) -> str:
    """The file name ONE uses: sha1 hex of the query string as passed to the request."""
    return hashlib.sha1(query.encode("utf-8")).hexdigest()


class RestCache:
    """Read/write ONE's REST cache in ``<cache_dir>/.rest`` with hit/miss counters."""

    def __init__(self, cache_dir: str | Path, on_note: Callable[[str], None] | None = None,
                 max_depth: int = bounded.MAX_DEPTH):
        self.rest_dir = Path(cache_dir) / ".rest"
        self.max_depth = max_depth
        self.hits = 0
        self.misses = 0
        self.writable = True
        self._on_note = on_note
        self._lock = threading.Lock()

    def _note(self, message: str) -> None:
        _logger.warning(message)
        if self._on_note is not None:
            self._on_note(message)

    def _load(self, query: str) -> CacheEntry | None:
        """The stored entry or None; a corrupt entry is deleted (ONE 3.4.1+), never raised."""
        path = self.rest_dir / cache_key(query)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            _logger.debug("REST cache entry %s unreadable: %s", path.name, exc)
            return None
        try:
            # bytes that are not UTF-8 (UnicodeDecodeError is a ValueError), JSON nested past
            # max_depth (TooDeep) and anything but ONE's [response, expiry] are as corrupt as
            # bad JSON: ONE-api raises on them at every call; here they are a miss, once
            value, when = bounded.loads(data, self.max_depth)
            expiry = datetime.fromisoformat(when)
        except (ValueError, TypeError):
            self._remove(path, "corrupt")
            return None
        if not value:
            # ONE 3.x reads ``[null, expiry]`` (or any empty answer) as no entry at all:
            # ``if cached and expiry > now``; answering "0 sessions" from it would hide data
            return None
        return CacheEntry(value, expiry)

    def _remove(self, path: Path, what: str) -> None:
        self._note(f"Deleted a {what} REST cache entry: {path}")
        with suppress(OSError):
            path.unlink()

    def discard(self, query: str) -> None:
        """Delete the entry of ``query``, whose response is not of the shape its endpoint
        answers (a hand-edited or foreign file): it is fetched again, and Alyx not blamed."""
        self._remove(self.rest_dir / cache_key(query), "wrong-shape")

    def get(self, query: str) -> CacheEntry | None:
        """The entry for ``query`` if it is still fresh; counts a hit or a miss."""
        entry = self._load(query)
        fresh = entry is not None and entry.is_fresh()
        with self._lock:
            if fresh:
                self.hits += 1
            else:
                self.misses += 1
        return entry if fresh else None

    def get_stale(self, query: str) -> CacheEntry | None:
        """The entry for ``query`` whatever its expiry: the offline fallback."""
        return self._load(query)

    def put(self, query: str, response: Any, expires: timedelta | bool) -> bool:
        """Store the raw response; ``expires=True`` means stale at once. False if not stored."""
        if not self.writable:
            return False
        expiry = datetime.now() + (expires if isinstance(expires, timedelta) else timedelta())
        payload = json.dumps([response, expiry.isoformat()])
        path = self.rest_dir / cache_key(query)

        def write(tmp: Path) -> None:
            tmp.write_text(payload, encoding="utf-8")

        try:
            self.rest_dir.mkdir(parents=True, exist_ok=True)
            # an entry lost in a crash is only fetched again: no fsync of the folder per entry
            atomic_write(path, write, fsync_folder=False)
        except OSError as exc:
            self.writable = False
            reason = exc.strerror or type(exc).__name__
            self._note(f"REST cache off: cannot write {self.rest_dir} ({reason})")
            return False
        return True

    def _entry_files(self) -> list[Path]:
        try:
            return [p for p in self.rest_dir.iterdir() if _SHA1.match(p.name)]
        except OSError:
            return []

    def stats(self) -> dict[str, Any]:
        """Entries and bytes on disk, hits and misses since this object was made."""
        n_bytes = 0
        files = self._entry_files()
        for p in files:
            with suppress(OSError):  # deleted meanwhile (a clear in another process)
                n_bytes += p.stat().st_size
        return {
            "enabled": self.writable,
            "entries": len(files),
            "bytes": n_bytes,
            "hits": self.hits,
            "misses": self.misses,
        }

    def clear(self) -> int:
        """Delete every cached response (and stray temp files); returns how many entries."""
        removed = 0
        try:
            paths = list(self.rest_dir.iterdir())
        except OSError:
            return 0
        for p in paths:
            if _SHA1.match(p.name) or ".tmp-" in p.name:
                try:
                    p.unlink()
                    removed += bool(_SHA1.match(p.name))
                except OSError:
                    pass
        return removed


class CacheBypass:
    """The REST-cache switch of ``no_cache``, one per thread and nesting: blocks overlapping in
    two workers cannot leave each other's cache on or off (``client.cache_rest`` stays as is).
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def active(self) -> bool:
        """True inside a ``no_cache`` block of the calling thread."""
        return bool(getattr(self._local, "depth", 0))

    def __enter__(self) -> None:
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def __exit__(self, *_exc: object) -> None:
        self._local.depth -= 1
