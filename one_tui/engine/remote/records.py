"""Alyx REST records to cache-table rows: what ``One`` merges into its tables.

Pure functions, no network (one-behaviour.md §2.8, §3.4): records shaped otherwise than Alyx
sends them raise ``MalformedResponse`` naming the record kind. The other direction (ONE search
terms to Alyx filters) is ``filters``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from one_tui.engine.core.errors import MalformedResponse
from one_tui.engine.core.spec import QC, QC_CATEGORIES, SESSION_SPEC, one_line, parse_date, regex

__all__ = [
    "sessions_from_records",
    "session_details",
    "datasets_from_records",
    "datasets_from_session",
    "insertions_from_records",
    "remove_uuid_string",
    "eid_of",
]

_SESSION_COLUMNS = ("lab", "subject", "date", "number", "task_protocol", "projects")
_INSERTION_COLUMNS = ("model", "name", "json", "serial", "datasets", "auto_datetime",
                      "chronic_insertion")
_UUID_IN_NAME = re.compile(
    r"\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=\.[^/]*$|$)", re.I)
_SESSION_RE = regex(SESSION_SPEC)


# ---------------------------------------------------------------------------------------------
# Records -> rows


def _from_alyx(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Records not shaped as Alyx sends them (a proxy's JSON, an API change) raise
    MalformedResponse naming the record kind, instead of a KeyError/TypeError from inside."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except MalformedResponse:
                raise
            except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
                why = (f"no {exc.args[0]!r} field" if isinstance(exc, KeyError) and exc.args
                       else one_line(exc))
                raise MalformedResponse(f"Alyx sent a malformed {what} record: {why}") from exc

        return checked

    return wrap


@_from_alyx("session")
def eid_of(record: Mapping[str, Any]) -> str:
    """The session id of a REST record: ``id``, else the last 36 characters of ``url``."""
    eid = record.get("id") or str(record.get("url", ""))[-36:]
    return str(eid).lower()


def _projects(value: Any) -> str:
    """Project names as the tables hold them: comma-joined, '' for none."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return ",".join(str(p) for p in value)


def _session_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One sessions-table row from a session list/detail record or an insertion's session_info."""
    start = record.get("start_time") or record.get("date")
    number = record.get("number")
    return {
        "id": eid_of(record),
        "lab": record.get("lab") or "",
        "subject": record.get("subject") or "",
        "date": parse_date(str(start)[:10]) if start else None,
        "number": int(number) if number is not None else 0,
        "task_protocol": record.get("task_protocol") or "",
        "projects": _projects(record.get("projects")),
    }


@_from_alyx("session")
def sessions_from_records(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Session REST records to sessions-table rows (index ``id``), in the records' order.

    ``date`` is the day of ``start_time``; the ``projects`` list becomes a comma-joined string.
    """
    rows = [_session_row(r) for r in records]
    df = pd.DataFrame(rows, columns=["id", *_SESSION_COLUMNS])
    df["number"] = df["number"].astype("uint16")
    return df.set_index("id")


@_from_alyx("session")
def session_details(record: Mapping[str, Any]) -> dict[str, Any]:
    """A session list record as remote ``search(details=True)`` gives it: record + ``date``."""
    out = dict(record)
    start = record.get("start_time")
    out["date"] = parse_date(str(start)[:10]) if start else None
    return out


def remove_uuid_string(path: str) -> str:
    """Drop the dataset UUID Alyx puts in file names (``a.b.<uuid>.npy`` -> ``a.b.npy``)."""
    return _UUID_IN_NAME.sub("", path)


def _rel_path(d: Mapping[str, Any]) -> str:
    """``collection/#revision#/name`` of a dataset record, from its ``data_url`` when there is one.

    The data URL holds ``lab/Subjects/subject/date/NNN/<rel_path with uuid>``: the part after the
    session folder, without the UUID, is the relative path (ONE's ``ses2records``).
    """
    url = d.get("data_url")
    if url:
        path = remove_uuid_string(urlsplit(url, allow_fragments=False).path.strip("/"))
        m = _SESSION_RE.search(path)
        if m:
            return path[m.end():].strip("/")
    parts = [d.get("collection") or "", f"#{d['revision']}#" if d.get("revision") else "",
             d.get("name") or ""]
    return "/".join(p for p in parts if p)


def _dataset_row(d: Mapping[str, Any], eid: str) -> dict[str, Any]:
    """One datasets-table row from a ``data_dataset_session_related`` entry."""
    qc = d.get("qc")
    size = d.get("file_size")
    return {
        "eid": eid,
        "id": str(d["id"]).lower(),
        "rel_path": _rel_path(d),
        "file_size": None if size is None else int(size),
        "hash": d.get("hash"),
        "exists": True,
        "qc": QC.validate(qc).name if qc is not None else "NOT_SET",
        "default_revision": str(d.get("default_revision")) == "True",
    }


@_from_alyx("dataset")
def datasets_from_records(records: Iterable[Mapping[str, Any]], eid: str) -> pd.DataFrame:
    """Dataset entries of a session detail record to datasets-table rows (index ``eid, id``).

    ``default_revision`` arrives as the *string* ``"True"``/``"False"`` (an Alyx quirk) and is
    turned into a bool; ``qc`` may be a name or an int.
    """
    rows = [_dataset_row(d, eid) for d in records]
    df = pd.DataFrame(rows, columns=["eid", "id", "rel_path", "file_size", "hash", "exists", "qc",
                                     "default_revision"])
    df["file_size"] = pd.array(df["file_size"].to_numpy(dtype="float64", na_value=float("nan")),
                               dtype="Float64").astype("UInt64")
    df["qc"] = pd.Categorical(df["qc"], categories=QC_CATEGORIES, ordered=True)
    df["exists"] = df["exists"].astype(bool)
    df["default_revision"] = df["default_revision"].astype(bool)
    return df.set_index(["eid", "id"]).sort_index()


@_from_alyx("session")
def datasets_from_session(record: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ``GET /sessions/<eid>`` record to (sessions rows, datasets rows): ONE's ``ses2records``."""
    eid = eid_of(record)
    sessions = sessions_from_records([record])
    datasets = datasets_from_records(record.get("data_dataset_session_related") or [], eid)
    return sessions, datasets


@_from_alyx("insertion")
def insertions_from_records(records: Iterable[Mapping[str, Any]],
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Insertion REST records to (insertions rows, sessions rows from their ``session_info``).

    Insertion rows are the record minus ``session_info``, ``session`` renamed ``eid``, indexed
    ``(eid, id)`` as ONE 3.x builds its in-memory insertions table.
    """
    records = list(records)
    ins_rows, ses_records = [], []
    for r in records:
        info = dict(r.get("session_info") or {})
        eid = str(r.get("session") or info.get("id") or "").lower()[-36:]
        row: dict[str, Any] = {"eid": eid, "id": str(r["id"]).lower()}
        row.update({c: r.get(c) for c in _INSERTION_COLUMNS})
        if isinstance(row["datasets"], list):  # detail records hold dicts; keep the ids
            row["datasets"] = [d["id"] if isinstance(d, Mapping) else d for d in row["datasets"]]
        ins_rows.append(row)
        if info:
            info.setdefault("id", eid)
            ses_records.append(info)
    ins = pd.DataFrame(ins_rows, columns=["eid", "id", *_INSERTION_COLUMNS])
    ins = ins.set_index(["eid", "id"])
    return ins, sessions_from_records(ses_records)
