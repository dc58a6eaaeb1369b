"""ONE's vocabulary: the QC scale, ALF path regexes and date parsing.

The regex pieces follow ONE-api's ``one/alf/spec.py`` so that filters written for ONE (strings,
lists or dicts of ALF parts) select the same datasets here.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import IntEnum
from typing import Any

__all__ = [
    "QC",
    "QC_CATEGORIES",
    "SESSION_SPEC",
    "COLLECTION_SPEC",
    "FILE_SPEC",
    "FILE_PARTS",
    "regex",
    "parse_date",
    "parse_datetime",
    "shown", "one_line", "inert",
]


class QC(IntEnum):
    """Dataset and session QC outcomes, ordered from best to worst as ONE orders them."""

    NOT_SET = 0
    PASS = 10
    WARNING = 30
    FAIL = 40
    CRITICAL = 50

    @classmethod
    def validate(cls, value: Any) -> QC:
        """Return the QC for an int value, a (case-insensitive) name or a QC; else ValueError."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            name = value.strip().upper()
            if name in cls.__members__:
                return cls[name]
            if name.lstrip("-").isdecimal():  # what int() accepts ('²' is a digit, not decimal)
                value = int(name)
            else:
                raise ValueError(
                    f'Invalid QC value "{shown(value)}"; expected one of {_qc_choices()}')
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        raise ValueError(f'Invalid QC value "{shown(value)}"; expected one of {_qc_choices()}')


def _visible(c: str) -> str:
    return repr(c)[1:-1]  # '\x1b', '\n', '\u202e', '\xa0': what Python would show


def inert(value: Any, lines: bool = False) -> str:
    """Outside text (a table cell, an Alyx record, an error, a path) as display text: each
    character ``str.isprintable()`` rejects written as its escape (``\x1b``): C0/C1 controls
    (ESC starts CSI/OSC sequences: OSC 52 writes the clipboard, OSC 0 the window title; 0x9b
    is an 8-bit CSI), bidi overrides that reorder a line, line separators, invisible and
    unassigned characters. Visible, never interpreted; everything else unchanged. ``lines``
    keeps newlines and tabs (the error modal's multi-line text). The one rule for every piece
    of outside text the app or the command line shows; printable text is returned as it is
    (one C-speed test)."""
    text = str(value)
    if text.isprintable():
        return text
    keep = "\n\t" if lines else ""
    return "".join(c if c.isprintable() or c in keep else _visible(c) for c in text)


def shown(value: Any, limit: int = 120) -> str:
    """A value as it goes inside a one-line message: made :func:`inert` (newline, NUL, escape
    sequences shown escaped) and long text cut, so outside text can neither break the line nor
    drive the terminal a toast is drawn on."""
    text = inert(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(exc: BaseException, named: bool = False, limit: int = 300) -> str:
    """An exception as one safe line (Arrow's and httpx's errors span several): its message
    with whitespace collapsed, control characters escaped; ``named`` puts the type first, as a
    toast shows it ('AlyxConnectionError: ...'). The one place errors become text."""
    text = shown(" ".join(str(exc).split()), limit=limit)
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if named else text


def _qc_choices() -> str:
    return ", ".join(f"{q.name} ({q.value})" for q in QC)


#: Category order of the ``qc`` column in the tables (an ordered categorical / dictionary).
QC_CATEGORIES: list[str] = [q.name for q in QC]

# ALF specification strings, as in ONE-api's one/alf/spec.py.
SESSION_SPEC = "({lab}/Subjects/)?{subject}/{date}/{number}"
COLLECTION_SPEC = r"({collection}/)?(#{revision}#/)?"
FILE_SPEC = r"_?{namespace}?_?{object}\.{attribute}(?:_{timescale})?(?:\.{extra})*\.{extension}$"

#: Default pattern of each ALF part.
DEFAULTS: dict[str, str] = {
    "lab": r"\w+",
    "subject": r"[\w.-]+",
    "date": r"\d{4}-\d{2}-\d{2}",
    "number": r"\d{1,3}",
    "collection": r"[\w./-]+",
    "revision": r"[\w.-]+",
    "namespace": r"(?<=_)[a-zA-Z0-9]+",
    "object": r"\w+",
    "attribute": r"(?:_[a-z]+_)?[a-zA-Z0-9]+(?:_times(?=[_.])|_intervals(?=[_.]))?",
    "timescale": r"\w+",
    "extra": r"[.\w-]+",
    "extension": r"\w+",
}

#: The file-name parts accepted in a dict ``filename`` filter.
FILE_PARTS = ("namespace", "object", "attribute", "timescale", "extra", "extension")


def regex(spec: str, **parts: str | None) -> re.Pattern[str]:
    """Compile an ALF spec string, each ``{part}`` becoming a named group (default or given)."""
    unknown = set(parts) - set(DEFAULTS)
    if unknown:
        raise KeyError(f'Unknown ALF part "{sorted(unknown)[0]}"')
    fields = {**DEFAULTS, **{k: v for k, v in parts.items() if v is not None}}
    names = re.findall(r"(?<={)\w+(?=})", spec)
    return re.compile(spec.format(**{k: f"(?P<{k}>{fields[k]})" for k in names}))


_DATE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def parse_date(value: Any) -> dt.date:
    """Parse a date given as a date, datetime, pandas Timestamp or 'YYYY-MM-DD' string.

    Malformed values (``'2024-13-01'``, ``'yesterday'``) raise a ValueError that names the value.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        stamp: dt.datetime = value.to_pydatetime()
        return stamp.date()
    if isinstance(value, str):
        text = value.strip()
        try:
            if _DATE_RE.match(text):
                y, m, d = (int(x) for x in text.split("-"))
                return dt.date(y, m, d)
            return dt.datetime.fromisoformat(text).date()
        except ValueError as exc:
            raise ValueError(f'Invalid date "{shown(value)}": {exc}; expected YYYY-MM-DD') from None
    raise ValueError(f'Invalid date "{shown(value)}"; expected YYYY-MM-DD')


def parse_datetime(value: Any) -> dt.datetime:
    """Parse a datetime (ISO string, datetime or date); a date gives midnight."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        moment: dt.datetime = value.to_pydatetime()
        return moment
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f'Invalid date/time "{shown(value)}": {exc}') from None
    raise ValueError(f'Invalid date/time "{shown(value)}"')
