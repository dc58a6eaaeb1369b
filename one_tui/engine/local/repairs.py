"""Values someone else wrote into a ONE table that ONE's types cannot hold, and what they become.

This module exists so that "a table ONE-api reads, one-tui reads" has one rule (issue 16,
docs/reliability.md): a shared folder's tables are written by other programs, and one bad row
must not make a table unreadable or a query fail. An unknown QC value is ``UNKNOWN_QC``, a file
size stored as text is its number (unknown when it is not one), an id stored as binary is its
UUID, a row without its eid is kept (as ONE-api keeps it); ``Repairs`` counts each kind for one
notice per table. ``fileformat`` applies it on every read; ``codes`` on the columns it reads.
It changes when another way a table can be spoiled is found.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from one_tui.engine.core.spec import QC

__all__ = ["UNKNOWN_QC", "Repairs", "binary_ids", "qc_name", "sizes"]


class Repairs:
    """What a read did to bring a table someone else wrote to ONE's types, counted, so that the
    user gets one notice per table instead of a table refused (ONE-api reads these tables; see
    docs/reliability.md): an unknown QC value is CRITICAL, a size that is not a number is
    unknown, an id stored as binary is its UUID, a row without its eid is kept (as ONE keeps
    it)."""

    _TEXT = {"qc": "{n} with a QC value no QC level has, read as CRITICAL",
             "size text": "{n} with a file size stored as text, read as a number",
             "size": "{n} with a file size that is not a number, read as unknown",
             "binary": "{n} with an id stored as binary, read as text",
             "no key": "{n} without an eid or id, kept as ONE-api keeps them"}

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + int(n)

    def notice(self, file_name: str) -> str | None:
        """One line for the table file, None when nothing was repaired."""
        if not self.counts:
            return None
        parts = [self._TEXT[k].format(n=f"{n:,} row" + ("s" if n > 1 else ""))
                 for k, n in self.counts.items()]
        return f"{file_name}: " + "; ".join(parts)


def qc_name(value: Any) -> str | None:
    """The QC level a table's value stands for; None for a value no level has. Null is NOT_SET."""
    if not (np.ndim(value) == 0 and pd.notna(value)):
        return "NOT_SET" if np.ndim(value) == 0 else None
    if isinstance(value, np.integer):  # a QC column stored as numbers
        value = int(value)
    try:
        return QC.validate(value).name
    except ValueError:
        return None


#: What a QC value no level has is read as. ONE-api keeps it as a category after every level of
#: the file's ordered categorical, so none of its QC filters (``qc <= level``) keeps the row;
#: as CRITICAL, every filter answers the same but ``qc='CRITICAL'``, which keeps it here.
UNKNOWN_QC = "CRITICAL"


def sizes(size: pd.Series, repairs: Repairs | None) -> Any:
    """File sizes as ``UInt64``: numbers as they are, text read as a number, anything that is
    not a whole number of bytes (a word, -1, 2.5) unknown and counted."""
    size = pd.Series(size, copy=False)
    if pd.api.types.is_integer_dtype(size.dtype) or pd.api.types.is_float_dtype(size.dtype):
        numbers = size.astype("Float64")
    else:
        numbers = pd.to_numeric(size.astype(object), errors="coerce").astype("Float64")
    numbers = numbers.mask((numbers < 0) | (numbers % 1 != 0))
    if repairs is not None:
        unknown = int((size.notna() & numbers.isna()).sum())
        if size.dtype == object or pd.api.types.is_string_dtype(size.dtype):
            repairs.add("size text", int(size.notna().sum()) - unknown)
        repairs.add("size", unknown)
    return numbers.astype("UInt64").array


def binary_ids(arrow: pa.ChunkedArray, repairs: Repairs | None) -> pd.Series:
    """Ids stored as binary, as text: 16 bytes are a UUID (``uuid.UUID(bytes=...)``), other
    bytes their UTF-8 text (undecodable bytes replaced). ONE-api 2.11.2 keeps the bytes and
    3.6.1 cannot load the table; either way each row stays."""
    values = arrow.to_pylist()
    if repairs is not None:
        repairs.add("binary", sum(v is not None for v in values))
    text = [None if v is None else str(uuid.UUID(bytes=v)) if len(v) == 16
            else v.decode("utf-8", "replace") for v in values]
    return pd.Series(pd.array(text, dtype="str"))
