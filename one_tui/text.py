"""Sizes, ages, times and counts the way a user reads them, for the app and the command line.

A module of its own at the package root (no Textual, no Rich): ``one-tui cache-info`` prints the
same words as the Cache pane without importing the app. Errors become text in one place only,
``one_tui.engine.core.spec.one_line``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from one_tui.engine.core.spec import inert


def fmt_size(n: Any) -> str:
    """Bytes as B/kB/MB/GB (decimal, as file browsers show them); '–' when unknown."""
    try:
        size = float(n)
    except (TypeError, ValueError):
        return "–"
    if size != size:  # NaN
        return "–"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def fmt_delta(delta: dt.timedelta | None) -> str:
    """A duration in the largest sensible unit: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if delta is None:
        return "–"
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        minutes = seconds % 3600 // 60
        text = f"{seconds // 3600} h" + (f" {minutes} min" if minutes else "")
    else:
        hours = seconds % 86400 // 3600
        text = f"{seconds // 86400} d" + (f" {hours} h" if hours else "")
    return sign + text


def as_datetime(value: Any) -> dt.datetime | None:
    """A datetime from what the engine gives (datetime, pandas Timestamp, ISO text) or None."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        return None


def fmt_time(value: Any) -> str:
    """A moment as 'YYYY-MM-DD HH:MM' ('–' if unknown)."""
    moment = as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "–"


def fmt_age_minutes(value: Any, now: dt.datetime) -> str:
    """An age to the minute ('<1 min', '12 min'): a ticking screen changes once a minute."""
    age = fmt_age(value, now)
    return "<1 min" if age.endswith(" s") and not age.startswith("-") else age


def fmt_age(value: Any, now: dt.datetime) -> str:
    """How long ago a moment was, against the app's (injectable) clock."""
    moment = as_datetime(value)
    return fmt_delta(now - moment) if moment else "–"


def plain(value: Any) -> str:
    """A cell value as display text: lists joined, missing values as '–', control characters
    shown as escapes (``spec.inert``: a value from a shared table never drives the terminal)."""
    return inert(_plain(value))


def _plain(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "–"
    if isinstance(value, float) and value != value:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "–"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    text = str(value)
    if _ISO_TIME.match(text):  # Alyx's start_time '2025-10-28T10:12:33.123456': no microseconds
        moment = as_datetime(text)
        if moment is not None:
            return _plain(moment)
    return text


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")


def plural(n: int, word: str) -> str:
    """'1 session', '2 sessions', '1,200 rows'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def fit_place(place: str, room: int) -> str:
    """The database's URL or label in ``room`` cells: "https://" goes first (the norm; a
    plain "http://" stays, it is a warning), then the end, with an ellipsis."""
    if len(place) > room and place.startswith("https://"):
        place = place.removeprefix("https://")
    if len(place) > room:
        place = place[:max(room - 1, 0)] + "…" if room > 1 else ""
    return place


def fmt_seconds(seconds: float | None) -> str:
    """An ETA as a person reads it: '8 s', '3 min 05 s', '1 h 02 min'; '–' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
