"""Verify once: which files one-tui has hashed, so a second check only stats them.

ONE-api hashes every file already on disk at every load (a 17 GB raw file each call). one-tui
keeps a small record of its own, ``<cache_dir>/.one-tui/verified.json`` (never in ONE's
tables): per file (its path under the cache folder) the size, mtime and hash it had when its
bytes were last checked against that hash. A file whose size and mtime are unchanged and whose
expected hash is the same is taken as verified without reading it; anything else is hashed
again. "Verify all" ignores the record. A record that cannot be read is an empty one (files are
hashed again, nothing is lost); it is written atomically, merged with what another process
wrote meanwhile.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from one_tui.engine.core.atomic import atomic_write
from one_tui.engine.local.layout import PRIVATE_DIR

__all__ = ["VerifiedRecord", "RECORD_NAME"]

RECORD_NAME = "verified.json"
_VERSION = 1


class VerifiedRecord:
    """The record of one cache folder, loaded on first use (no disk in the constructor)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.path = self.cache_dir / PRIVATE_DIR / RECORD_NAME
        self._files: dict[str, list[Any]] | None = None
        self._changed: dict[str, list[Any] | None] = {}
        self._lock = threading.Lock()

    def _key(self, path: Path) -> str | None:
        try:
            return Path(os.path.abspath(path)).relative_to(
                os.path.abspath(self.cache_dir)).as_posix()
        except ValueError:
            return None

    def _read(self) -> dict[str, list[Any]]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict) or raw.get("version") != _VERSION:
            return {}
        return {k: v for k, v in files.items() if isinstance(v, list) and len(v) == 3}

    def _loaded(self) -> dict[str, list[Any]]:
        if self._files is None:
            self._files = self._read()
        return self._files

    def is_verified(self, path: Path, size: int, mtime_ns: int, file_hash: str) -> bool:
        """``path`` was hashed to ``file_hash`` when it had this size and mtime."""
        key = self._key(path)
        if key is None or not file_hash:
            return False
        with self._lock:
            entry = self._loaded().get(key)
        return entry == [int(size), int(mtime_ns), file_hash.lower()]

    def mark(self, path: Path, file_hash: str | None) -> None:
        """``path`` (as it is now on disk) has the bytes of ``file_hash``."""
        key = self._key(path)
        if key is None or not file_hash:
            return
        st = path.stat()
        entry = [st.st_size, st.st_mtime_ns, file_hash.lower()]
        with self._lock:
            self._loaded()[key] = entry
            self._changed[key] = entry

    def forget(self, path: Path) -> None:
        key = self._key(path)
        if key is None:
            return
        with self._lock:
            self._loaded().pop(key, None)
            self._changed[key] = None

    def save(self) -> None:
        """Write the changes, merged over what is on disk now (another process's marks kept)."""
        with self._lock:
            if not self._changed:
                return
            files = self._read()
            for key, entry in self._changed.items():
                if entry is None:
                    files.pop(key, None)
                else:
                    files[key] = entry
            self._changed.clear()
            self._files = files
            text = json.dumps({"version": _VERSION, "files": files}, separators=(",", ":"))

        def write(tmp: Path) -> None:
            tmp.write_text(text, "utf-8")

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, write, fsync_folder=False)
        except OSError:
            pass  # a read-only folder: the files are hashed again next time, nothing is lost
