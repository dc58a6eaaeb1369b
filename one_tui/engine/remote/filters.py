"""ONE search terms to Alyx REST list filters: what ``One`` sends through ``AlyxClient.rest``.

Pure functions, no network, no pandas (one-behaviour.md §3.2, §3.3). The query strings they
lead to must be ONE's, character for character, or one-tui and ONE would not share REST cache
entries: same term completion, same order (``django`` first, then the terms sorted by the name
typed), same value forms.

The remote search terms are a **static** tuple: the local terms plus the parameters of Alyx's
``/sessions`` list endpoint (alyx-api.md §6.1). ONE reads them from ``GET /api/schema`` (580 KB,
cached a week); one-tui does not fetch the schema, so a filter added to Alyx later needs an update
here (or the raw ``django`` term).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from one_tui.engine.core.spec import QC, parse_date

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


def _single(value: Any) -> str:
    """The ``dataset`` term must be one string (Alyx's django filter keeps one clause per key)."""
    if not isinstance(value, str):
        raise TypeError('"dataset" parameter must be a string. For lists use "datasets"')
    return value


@dataclass(frozen=True)
class _Endpoint:
    """How ONE sends terms to one list endpoint: its terms, where the partial ``dataset`` name
    goes in the django filter, and the terms sent under another name."""

    terms: Callable[[], tuple[str, ...]]
    dataset_lookup: str
    renamed: Mapping[str, str]


_SESSIONS = _Endpoint(search_terms, "data_dataset_session_related__name__icontains",
                      {"laboratory": "lab"})
_INSERTIONS = _Endpoint(insertion_terms, "datasets__name__icontains",
                        {"laboratory": "lab", "number": "experiment_number"})


def _filters(endpoint: _Endpoint, terms: dict[str, Any]) -> dict[str, str]:
    """The one loop of both searches: complete each name, then send it (ONE's order)."""
    allowed = endpoint.terms()
    filters, ordered = _start(terms)
    for raw_key, value in ordered:
        key = _autocomplete(raw_key, allowed)
        if key == "dataset":
            _add_django(filters, f"{endpoint.dataset_lookup},{_single(value)}")
        elif key == "django":
            _add_django(filters, _text(value))
        else:
            filters[endpoint.renamed.get(key, key)] = _value(key, value)
    return _finish(filters)


def _value(key: str, value: Any) -> str:
    """A term's value as Alyx reads it (``date_range`` and the QC terms have their own form;
    only the terms an endpoint accepts ever reach here)."""
    if key == "date_range":
        return format_date_range(value)
    if key in ("dataset_qc_lte", "qc"):
        return _qc_name(value)
    return _text(value)


def session_filters(**terms: Any) -> dict[str, str]:
    """ONE search terms to ``/sessions`` list filters (§3.2), in the order ONE sends them.

    Names are completed as ONE completes them (``lab`` -> ``laboratory``, ``date`` ->
    ``date_range``); ``laboratory`` is sent as ``lab``. ``datasets`` (exact file names, all
    required) is sent as is; ``dataset`` (2.x: partial name) becomes the Django clause
    ``data_dataset_session_related__name__icontains,<v>`` and must be a single string, as for
    insertions. Values are strings; lists are comma-joined. ``None`` values are dropped.
    """
    return _filters(_SESSIONS, terms)


def insertion_filters(**terms: Any) -> dict[str, str]:
    """ONE ``search_insertions`` terms to ``/insertions`` list filters (§3.3), in ONE's order.

    ``dataset`` -> ``django=datasets__name__icontains,<v>`` (a list raises ONE's TypeError),
    ``laboratory`` -> ``lab``, ``number`` -> ``experiment_number``. Session-only terms such as
    ``date_range`` are refused as ONE refuses them (use ``date`` for one day).
    """
    return _filters(_INSERTIONS, terms)
