"""Limits on what outside input may cost: JSON nesting, body size, time and pages.

Alyx's answers, the REST-cache entries and the ``~/.one`` files are written by someone else.
Python's JSON decoder recurses once per nesting level, so 100,000 ``[`` raise a
``RecursionError`` (a traceback, not a ``ValueError`` any caller expects); a gzip body inflates
a thousandfold; a server may send a byte at a time or announce a thousand million rows. Every
limit lives here, and every reader of outside JSON goes through :func:`loads`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_BODY", "MAX_SECONDS", "MAX_PAGES", "MAX_TABLES_ZIP", "Limits",
           "LIMITS", "TooDeep", "loads", "depth"]

#: Deepest JSON accepted. Alyx's records nest 4 levels (list > record > json field > value);
#: ONE's settings 3. Far below the interpreter's recursion limit, so any later walk of the
#: value (json.dumps into the REST cache, a conversion) is safe too.
MAX_DEPTH = 100
#: Largest decoded response body (bytes, after gzip): a page of 1,000 sessions is ~1 MB, the
#: whole sessions list of the IBL's public Alyx ~40 MB unpaginated.
MAX_BODY = 128 * 1024 * 1024
#: Longest a single request may take, all reads together (each read also has its own timeout).
MAX_SECONDS = 120.0
#: Most pages one list query may take (Alyx's pages are up to 1,000 rows: 10 million rows).
MAX_PAGES = 10_000
#: Largest ``cache.zip`` (on the wire, and its files unzipped): the IBL's whole public
#: database zips to a few hundred MB. Only a body that does not announce its size, or a zip
#: whose entries claim more, can reach it; an announced size is held to exactly.
MAX_TABLES_ZIP = 16 * 1024 ** 3



@dataclass(frozen=True)
class Limits:
    """The limits a client applies (tests make them small)."""

    max_depth: int = MAX_DEPTH
    max_body: int = MAX_BODY
    max_seconds: float = MAX_SECONDS
    max_pages: int = MAX_PAGES
    max_tables_zip: int = MAX_TABLES_ZIP


LIMITS = Limits()

_STRING = re.compile(rb'"[^"]*"')  # after escaped quotes and backslashes are dropped
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class TooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_DEPTH` (a ``ValueError`` like a decoding error)."""


def depth(data: bytes) -> int:
    """How deeply ``data`` (JSON) nests, without the recursion of a decoder: strings dropped,
    then the running count of brackets (C-speed steps but the last; ~15 ms a MB)."""
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for outside text: a ValueError (``TooDeep``, ``JSONDecodeError``,
    ``UnicodeDecodeError``) for anything that is not UTF-8 JSON of at most ``max_depth``
    levels, never a RecursionError."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if depth(raw) > max_depth:
        raise TooDeep(f"JSON nested more than {max_depth} levels deep")
    try:
        return json.loads(raw.decode("utf-8") if isinstance(data, bytes) else data)
    except RecursionError:  # not reached after the check; kept so no traceback can escape
        raise TooDeep(f"JSON nested more than {max_depth} levels deep") from None
