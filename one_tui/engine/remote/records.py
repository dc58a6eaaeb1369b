"""ONE search terms to Alyx REST filters, and Alyx REST records to cache-table rows.

Pure functions, no network: ``One`` sends what these build through ``AlyxClient.rest`` and merges
what these return into its tables (one-behaviour.md §2.8, §3.2, §3.3, §3.4).

The remote search terms are a **static** tuple: the local terms plus the parameters of Alyx's
``/sessions`` list endpoint (alyx-api.md §6.1). ONE reads them from ``GET /api/schema`` (580 KB,
cached a week); one-tui does not fetch the schema, so a filter added to Alyx later needs an update
here (or the raw ``django`` term).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from one_tui.engine.core.errors import MalformedResponse
from one_tui.engine.core.spec import QC, QC_CATEGORIES, SESSION_SPEC, parse_date, regex, shown

__all__ = [
    "SESSION_LIST_PARAMS",
    "INSERTION_LIST_PARAMS",
    "DATE_MIN",
    "DATE_MAX",
    "search_terms",
    "insertion_terms",
    "format_date_range",
    "session_filters",
    "django_value",
    "django_clause",
    "insertion_filters",
    "sessions_from_records",
    "session_details",
    "datasets_from_session",
    "insertions_from_records",
    "remove_uuid_string",
    "eid_of",
]

#: Parameters of Alyx's ``/sessions`` list endpoint (§3.2), as the schema lists them.
SESSION_LIST_PARAMS: tuple[str, ...] = (
    "atlas_acronym", "atlas_id", "atlas_name", "auto_datetime", "dataset_qc_lte",
    "dataset_types", "datasets", "date_range", "django", "end_time", "extended_qc", "histology",
    "id", "json", "lab", "limit", "location", "n_correct_trials", "n_trials", "name",
    "narrative", "nickname", "number", "offset", "parent_session", "performance_gte",
    "performance_lte", "procedures", "project", "projects", "qc", "start_time", "subject", "tag",
    "task_protocol", "type", "users",
)

#: Parameters of Alyx's ``/insertions`` list endpoint (alyx-api.md §6.4).
INSERTION_LIST_PARAMS: tuple[str, ...] = (
    "atlas_acronym", "atlas_id", "atlas_name", "chronic_insertion", "dataset_qc_lte",
    "dataset_types", "datasets", "date", "django", "experiment_number", "lab", "limit", "model",
    "name", "offset", "project", "serial", "session", "subject", "tag", "task_protocol",
)

#: ONE terms accepted by remote ``search_insertions`` besides the endpoint's parameters (§3.3).
_INSERTION_EXTRA = ("dataset", "laboratory", "number")

#: Open ``date_range`` bounds: the pandas Timestamp min/max dates, as ONE sends them.
DATE_MIN = date(1677, 9, 21)
DATE_MAX = date(2262, 4, 11)

_SESSION_COLUMNS = ("lab", "subject", "date", "number", "task_protocol", "projects")
_INSERTION_COLUMNS = ("model", "name", "json", "serial", "datasets", "auto_datetime",
                      "chronic_insertion")
_UUID_IN_NAME = re.compile(
    r"\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=\.[^/]*$|$)", re.I)
_SESSION_RE = regex(SESSION_SPEC)


# ---------------------------------------------------------------------------------------------
# Terms


def search_terms() -> tuple[str, ...]:
    """Terms of a remote session search: the local terms, then the endpoint's (minus ``lab``).

    ``lab`` is left out, as ONE does, so that ``lab=`` autocompletes to ``laboratory``.
    """
    from one_tui.engine.local import query
    local = tuple(query.search_terms())
    extra = sorted(p for p in SESSION_LIST_PARAMS if p != "lab" and p not in local)
    return local + tuple(extra)


def insertion_terms() -> tuple[str, ...]:
    """Terms of a remote insertion search: the endpoint's parameters plus ONE's three aliases."""
    return tuple(sorted(set(INSERTION_LIST_PARAMS) | set(_INSERTION_EXTRA)))


def _autocomplete(term: str, allowed: Iterable[str]) -> str:
    """ONE's term completion (exact name or unique prefix), from the local query module."""
    from one_tui.engine.local import query
    return query.autocomplete(term, tuple(allowed))


def _text(value: Any) -> str:
    """A filter value as Alyx reads it: lists comma-joined, booleans 'True'/'False'."""
    if isinstance(value, Mapping):
        return ",".join(f"{k},{v}" for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, (date, datetime)) or hasattr(value, "to_pydatetime"):
        return str(parse_date(value))
    return str(value)


def format_date_range(value: Any) -> str:
    """``date_range`` as Alyx wants it: ``'YYYY-MM-DD,YYYY-MM-DD'``, both ends inclusive.

    A single date is sent twice; a one-element list or a ``None`` bound is open, sent as the
    pandas Timestamp min/max (``1677-09-21`` / ``2262-04-11``), as ONE does.
    """
    if isinstance(value, str) and "," in value:
        value = [v.strip() or None for v in value.split(",")]
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            value = [value[0], None]
        if len(value) != 2:
            raise ValueError("date_range must be a date or a list of one or two dates, "
                             f"got {len(value)} values")
        start = DATE_MIN if value[0] is None else parse_date(value[0])
        end = DATE_MAX if value[1] is None else parse_date(value[1])
    else:
        start = end = parse_date(value)
    return f"{start},{end}"


def _qc_name(value: Any) -> str:
    """A QC filter value as the enum name Alyx expects (a bad name would be a 500 there)."""
    return QC.validate(value).name


def _start(terms: dict[str, Any]) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """ONE's loop order: ``django`` first (the user's), then the terms sorted by the name the
    caller typed (before completion: ``lab`` sorts as ``lab``, ``number`` as ``number`` even
    though they are sent as ``lab``/``experiment_number``). Each name keeps its place, so the
    query string, hence the REST-cache sha1, is the one ONE builds for the same call."""
    django = terms.get("django")
    filters: dict[str, str] = {"django": _text(django) if django is not None else ""}
    rest = [(k, terms[k]) for k in sorted(terms) if k != "django" and terms[k] is not None]
    return filters, rest


def _finish(filters: dict[str, str]) -> dict[str, str]:
    """Drop an empty ``django``, as ONE does before its request."""
    if not filters.get("django"):
        filters.pop("django", None)
    return filters


def _add_django(filters: dict[str, str], clause: str) -> None:
    """Append a ``field__lookup,value`` clause to the ``django`` filter."""
    filters["django"] = f"{filters['django']},{clause}" if filters.get("django") else clause


#: What Alyx's django filter parser (alyx/base.py ``_custom_filter_parser``) turns into
#: something else than the text: ``None``, ``true``/``false``, a number (``5`` -> ``5.0``).
_CONVERTED = re.compile(r"(?i:none|true|false)|\d*\.?\d+|\d+\.")


def django_value(text: str) -> str:
    """``text`` as a value inside ``django=field__lookup,<value>`` that Alyx reads back as is.

    Alyx splits the django filter on every comma outside ``[...]``/``(...)``, so ``a, b`` sent
    raw is a dangling field and Alyx answers 500; it ``eval``s a value wrapped in brackets, and
    converts ``None``/``true``/numbers. Plain text is sent unchanged (the query ONE would
    build); anything else becomes a parenthesised Python string literal with every character
    but letters, digits and spaces escaped (``('a\\x2c b')``), which holds no comma, bracket,
    quote or ``%`` and evaluates to exactly ``text``.
    """
    if not (set(text) & set(",()[]'\"\\%&+=#") or _CONVERTED.fullmatch(text.strip())
            or text != text.strip()):
        return text
    out = []
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch == " "):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "('" + "".join(out) + "')"


def django_clause(lookup: str, value: Any) -> str:
    """``field__lookup,<value>`` with the value escaped for Alyx (see :func:`django_value`)."""
    return f"{lookup},{django_value(_text(value))}"


def session_filters(**terms: Any) -> dict[str, str]:
    """ONE search terms to ``/sessions`` list filters (§3.2), in the order ONE sends them.

    Names are completed as ONE completes them (``lab`` -> ``laboratory``, ``date`` ->
    ``date_range``); ``laboratory`` is sent as ``lab``. ``datasets`` (exact file names, all
    required) is sent as is; ``dataset`` (2.x: partial name) becomes the Django clause
    ``data_dataset_session_related__name__icontains,<v>`` and must be a single string, as for
    insertions. Values are strings; lists are comma-joined. ``None`` values are dropped.
    """
    allowed = search_terms()
    filters, ordered = _start(terms)
    for raw_key, value in ordered:
        key = _autocomplete(raw_key, allowed)
        if key == "laboratory":
            filters["lab"] = _text(value)
        elif key == "date_range":
            filters["date_range"] = format_date_range(value)
        elif key == "dataset":
            _add_django(filters, f"data_dataset_session_related__name__icontains,{_single(value)}")
        elif key in ("dataset_qc_lte", "qc"):
            filters[key] = _qc_name(value)
        elif key == "django":
            _add_django(filters, _text(value))
        else:
            filters[key] = _text(value)
    return _finish(filters)


def _single(value: Any) -> str:
    """The ``dataset`` term must be one string (Alyx's django filter keeps one clause per key)."""
    if not isinstance(value, str):
        raise TypeError('"dataset" parameter must be a string. For lists use "datasets"')
    return value


def insertion_filters(**terms: Any) -> dict[str, str]:
    """ONE ``search_insertions`` terms to ``/insertions`` list filters (§3.3), in ONE's order.

    ``dataset`` -> ``django=datasets__name__icontains,<v>`` (a list raises ONE's TypeError),
    ``laboratory`` -> ``lab``, ``number`` -> ``experiment_number``. Session-only terms such as
    ``date_range`` are refused as ONE refuses them (use ``date`` for one day).
    """
    allowed = insertion_terms()
    filters, ordered = _start(terms)
    for raw_key, value in ordered:
        key = _autocomplete(raw_key, allowed)
        if key == "dataset":
            _add_django(filters, f"datasets__name__icontains,{_single(value)}")
        elif key == "laboratory":
            filters["lab"] = _text(value)
        elif key == "number":
            filters["experiment_number"] = _text(value)
        elif key == "dataset_qc_lte":
            filters[key] = _qc_name(value)
        elif key == "django":
            _add_django(filters, _text(value))
        else:
            filters[key] = _text(value)
    return _finish(filters)


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
                       else shown(str(exc) or type(exc).__name__))
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
        row = {"eid": eid, "id": str(r["id"]).lower()}
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
