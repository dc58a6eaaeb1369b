"""The cache tables the demo Alyx offers: their date, and the cache.zip built for that date.

Exists so that tests can move the tables' date (``DemoServer.set_tables_date``) and every
reader (``/cache/info/``, ``/cache.zip``) sees the same date and bytes, with the zip built once
per date, whatever thread asks first.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import zipfile
from typing import Any

from one_tui.demo.synth import SyntheticDB

__all__ = ["PublishedTables"]


class PublishedTables:
    """The date of the tables on offer and their cache.zip (built once per date)."""

    def __init__(self, db: SyntheticDB) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._date = db.date_created
        self._zip: tuple[dt.datetime, bytes, dict[str, Any]] | None = None

    @property
    def date(self) -> dt.datetime:
        return self._date

    def set_date(self, when: dt.datetime) -> None:
        """Pretend the tables were (re)built at ``when`` (to the minute, as one_cache says)."""
        with self._lock:
            self._date = when.replace(second=0, microsecond=0)

    def cache_zip(self) -> tuple[bytes, dict[str, Any]]:
        """The cache.zip bytes and its cache_info for the current date."""
        with self._lock:
            when = self._date
            if self._zip is None or self._zip[0] != when:
                blob = self._db.cache_zip_bytes(when)
                with zipfile.ZipFile(io.BytesIO(blob)) as zf:
                    info = json.loads(zf.read("cache_info.json"))
                self._zip = (when, blob, info)
            return self._zip[1], self._zip[2]
