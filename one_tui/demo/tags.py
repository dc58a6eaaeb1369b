"""Release tags in the demo Alyx, published the way IBL does (and the loopback real Alyx).

``/tags`` lists them; ``/cache/info/<tag>/`` answers the tag's ``cache_info.json`` with
``database_tags`` and a ``location`` on a public area (``/public/caches/<tag>/cache.zip``,
served without a login, as FlatIron's public folder), so ONE-api's ``load_cache(tag=...)`` and
one-tui's tag picker work against the demo. Which sessions a tag holds is decided from the
session order only, so the same database always publishes the same releases.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import uuid
import zipfile
from typing import Any

from one_tui.demo import cachefiles
from one_tui.demo.synth import SyntheticDB

__all__ = ["DEMO_TAGS", "TagTables", "PUBLIC_PREFIX"]

#: (name, description, public, protected, every n-th session in the tag)
DEMO_TAGS: tuple[tuple[str, str, bool, bool, int], ...] = (
    ("Brainwidemap", "Brain-wide map release", True, False, 3),
    ("RSS2024", "Frozen for a paper", False, True, 17),
)
#: where the tag zips are, on the demo's own origin (no login there)
PUBLIC_PREFIX = "/public/caches/"


class TagTables:
    """The demo's tag records and each tag's cache.zip (built once per tables date)."""

    def __init__(self, db: SyntheticDB) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._zips: dict[tuple[str, dt.datetime], tuple[bytes, dict[str, Any]]] = {}

    def records(self) -> list[dict[str, Any]]:
        """``/tags`` as Alyx lists them."""
        return [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"one-tui-demo-tag/{name}")),
                 "json": None, "name": name, "description": text, "protected": protected,
                 "public": public, "hash": None}
                for name, text, public, protected, _n in DEMO_TAGS]

    def known(self, tag: str) -> bool:
        return any(name == tag for name, *_ in DEMO_TAGS)

    def cache_zip(self, tag: str, when: dt.datetime, base: str) -> tuple[bytes, dict[str, Any]]:
        """The tag's cache.zip and its cache_info (with ``location`` under ``base``)."""
        with self._lock:
            key = (tag, when)
            if key not in self._zips:
                self._zips[key] = self._build(tag, when)
            blob, info = self._zips[key]
        return blob, {**info, "location": f"{base}{PUBLIC_PREFIX}{tag}/cache.zip"}

    def _build(self, tag: str, when: dt.datetime) -> tuple[bytes, dict[str, Any]]:
        every = next(n for name, *_rest, n in DEMO_TAGS if name == tag)
        db = self._db
        sessions = db.sessions.iloc[::every]
        datasets = db.existing_datasets()
        datasets = datasets[datasets.index.get_level_values(0).isin(sessions.index)]
        meta = {**db.table_metadata(when), "database_tags": [tag]}
        qc = cachefiles.qc_records(db.session_extra, db.insertions)
        blob = cachefiles.cache_zip(sessions, datasets, qc, meta)
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            info = json.loads(zf.read("cache_info.json"))
        return blob, info
