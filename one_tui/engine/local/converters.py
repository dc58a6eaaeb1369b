"""Session ID conversions as ONE does them: eids, experiment refs, session paths and dicts.

Every form ONE's ``to_eid`` accepts is accepted here, with ONE's error messages, so a user can
paste a URL, a ``2019-04-02_1_KS005`` ref or a session folder wherever an eid is expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

import pandas as pd

from one_tui.engine.core.errors import ALFMultipleObjectsFound
from one_tui.engine.core.spec import parse_date, shown

__all__ = [
    "is_uuid",
    "is_uuid_string",
    "is_exp_ref",
    "parse_session_path",
    "session_path",
    "to_eid",
    "eid2path",
    "path2eid",
    "ref2eid",
    "eid2ref",
]

_SESSION_PATH = re.compile(
    r"(?:^|/)(?:(?P<lab>[\w.-]+)/(?:Subjects/)?)?(?P<subject>[\w.-]+)/"
    r"(?P<date>\d{4}-\d{2}-\d{2})/(?P<number>\d{1,3})/?$"
)
_EXP_REF = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})_(?P<number>\d+)_(?P<subject>[\w.-]+)$")


def is_uuid(value: Any, versions: tuple[int, ...] = (3, 4, 5)) -> bool:
    """True for a UUID (object or string) of one of ``versions``; ONE accepts 3, 4 and 5."""
    if isinstance(value, str):
        try:
            value = UUID(value)
        except ValueError:
            return False
    return isinstance(value, UUID) and value.version in versions


def is_uuid_string(value: Any) -> bool:
    """True for a canonical hyphenated UUID string of version 3, 4 or 5."""
    return isinstance(value, str) and is_uuid(value) and str(UUID(value)) == value.lower()


def is_exp_ref(value: Any) -> bool:
    """True for an experiment reference ``YYYY-MM-DD_N_subject``."""
    return isinstance(value, str) and _EXP_REF.match(value) is not None


def parse_session_path(path: Any) -> dict[str, Any] | None:
    """``{lab, subject, date, number, number_text}`` of a path ending in ``...subj/date/NNN``.

    ``lab`` is None when the path has no lab part; None when it is not a session path.
    """
    if isinstance(path, PurePath):
        path = path.as_posix()
    if not isinstance(path, str):
        return None
    path = path.replace("\\", "/").rstrip("/")
    m = _SESSION_PATH.search(path)
    if not m:  # a file or folder inside a session: ONE's get_session_path keeps the part up
        parts = path.split("/")  # to the last number folder that follows a date folder
        ends = [i for i in range(1, len(parts))
                if parts[i].isdigit() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", parts[i - 1])]
        m = _SESSION_PATH.search("/".join(parts[: ends[-1] + 1])) if ends else None
    if not m:
        return None
    try:
        day = parse_date(m["date"])
    except ValueError:
        return None
    # number_text: the folder name as written (``001``), which ONE's path2eid sends to Alyx
    return {"lab": m["lab"], "subject": m["subject"], "date": day, "number": int(m["number"]),
            "number_text": m["number"]}


def session_path(lab: str | None, subject: str, day: Any, number: int) -> PurePath:
    """The relative session folder ``lab/Subjects/subject/date/NNN`` (no lab: ``subject/...``)."""
    parts = [lab, "Subjects"] if lab else []
    return PurePath(*parts, subject, str(parse_date(day)), f"{int(number):03d}")


def _lookup(sessions: pd.DataFrame, subject: str, day: date, number: int,
            lab: str | None = None) -> str | None:
    """The eid of the session with this subject, date and number (lab breaks ties)."""
    if sessions is None or len(sessions) == 0:
        return None
    dates = pd.to_datetime(sessions["date"]).dt.date
    mask = (sessions["subject"] == subject) & (dates == day) & (sessions["number"] == number)
    hits = sessions.index[mask.to_numpy()]
    if len(hits) > 1 and lab:
        hits = hits[(sessions.loc[hits, "lab"] == lab).to_numpy()]
    if len(hits) > 1:
        raise ALFMultipleObjectsFound(
            f"Multiple sessions in cache for {subject}/{day}/{number:03d}: {', '.join(hits)}")
    return str(hits[0]) if len(hits) else None


def path2eid(cache: Any, path: Any) -> str | None:
    """The eid of a session folder path, from the sessions table; None if not in the table."""
    parts = parse_session_path(path)
    if parts is None:
        return None
    return _lookup(cache.sessions, parts["subject"], parts["date"], parts["number"], parts["lab"])


def ref2eid(cache: Any, ref: str) -> str | None:
    """The eid of an experiment reference ``YYYY-MM-DD_N_subject``; None if unknown."""
    m = _EXP_REF.match(ref)
    if not m:
        raise ValueError(f'Invalid experiment reference "{shown(ref)}"')
    return _lookup(cache.sessions, m["subject"], parse_date(m["date"]), int(m["number"]))


def eid2ref(cache: Any, eid: Any) -> str | None:
    """The experiment reference ``YYYY-MM-DD_N_subject`` of an eid; None if unknown."""
    eid = to_eid(eid)
    ses = cache.sessions
    if eid not in ses.index:
        return None
    row = ses.loc[eid]
    return f"{parse_date(row['date'])}_{int(row['number'])}_{row['subject']}"


def to_eid(id_: Any, cache: Any = None) -> Any:
    """Normalise any session identifier ONE accepts to a lowercase eid string.

    UUIDs and strings ending in one (URLs) need no cache; refs, dicts and session paths are looked
    up in ``cache.sessions`` and give None when the session is not there. Lists map element-wise.
    Raises ValueError('Invalid experiment ID') for a non-v3/4/5 UUID string and
    ValueError('Unrecognized experiment ID') for anything else.
    """
    if isinstance(id_, (list, tuple)):
        return [to_eid(x, cache) for x in id_]
    if id_ is None:
        return None
    if isinstance(id_, UUID):
        if id_.version not in (3, 4, 5):
            raise ValueError("Invalid experiment ID")
        return str(id_)
    if isinstance(id_, Mapping):
        if not {"subject", "number"} <= set(id_) or not ({"date", "start_time"} & set(id_)):
            raise ValueError("Unrecognized experiment ID")
        day = parse_date(str(id_.get("date") or id_["start_time"])[:10])
        return _lookup(_sessions(cache), id_["subject"], day, int(id_["number"]), id_.get("lab"))
    if isinstance(id_, PurePath):
        id_ = id_.as_posix()
    if isinstance(id_, str):
        text = id_.strip()
        if is_exp_ref(text):
            return ref2eid(_need(cache), text)
        parts = parse_session_path(text)
        if parts is not None:
            return _lookup(_sessions(cache), parts["subject"], parts["date"], parts["number"],
                           parts["lab"])
        if len(text) > 36:
            text = text.rstrip("/")[-36:]
        if not is_uuid_string(text.lower()):
            raise ValueError("Invalid experiment ID")
        return text.lower()
    raise ValueError("Unrecognized experiment ID")


def _need(cache: Any) -> Any:
    if cache is None:
        raise ValueError("A session table is needed to look up this experiment ID")
    return cache


def _sessions(cache: Any) -> pd.DataFrame:
    return _need(cache).sessions


def eid2path(cache: Any, eid: Any, cache_dir: str | Path) -> Any:
    """Local session folder ``<cache_dir>/<lab>/Subjects/<subject>/<date>/<NNN>`` of an eid.

    None when the eid is not in the sessions table; a list in, a list out.
    """
    if isinstance(eid, (list, tuple)):
        return [eid2path(cache, e, cache_dir) for e in eid]
    eid = to_eid(eid, cache)
    ses = cache.sessions
    if eid is None or eid not in ses.index:
        return None
    row = ses.loc[eid]
    lab = row.get("lab") if isinstance(row.get("lab"), str) else None
    return Path(cache_dir) / session_path(lab or None, row["subject"], row["date"], row["number"])
