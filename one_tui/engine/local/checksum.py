"""A dataset's hash as Alyx stores it: which algorithm, and hashing a file or a stream.

Alyx's ``Dataset.hash`` is "md5 (32 hex) or sha1 (40 hex)" and may be blank; ONE-api always
computes MD5, so an empty or SHA-1 hash makes ONE download the file again on every load. Here
the length chooses the algorithm (32: md5, 40: sha1) and an empty, None or malformed hash means
"not checked" (the size still is).
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

__all__ = ["algorithm", "new_digest", "file_digest", "matches", "CHUNK"]

CHUNK = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def algorithm(file_hash: object) -> str | None:
    """``"md5"``, ``"sha1"`` or None (no usable hash: empty, None, NaN, another length)."""
    if not isinstance(file_hash, str) or not _HEX.match(file_hash):
        return None
    return {32: "md5", 40: "sha1"}.get(len(file_hash))


def new_digest(file_hash: object) -> Any:
    """A hashlib object for ``file_hash``'s algorithm, None when there is nothing to check."""
    name = algorithm(file_hash)
    if name is None:
        return None
    return hashlib.new(name, usedforsecurity=False)


def file_digest(path: Path, file_hash: object, cancel: threading.Event | None = None,
                on_bytes: Any = None) -> str | None:
    """The hex digest of ``path`` in ``file_hash``'s algorithm (None: no algorithm, or
    cancelled). ``on_bytes(n)`` after each chunk."""
    digest = new_digest(file_hash)
    if digest is None:
        return None
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if cancel is not None and cancel.is_set():
                return None
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return str(digest.hexdigest())


def matches(digest: str | None, file_hash: object) -> bool:
    return digest is not None and isinstance(file_hash, str) and digest == file_hash.lower()
