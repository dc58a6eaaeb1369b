"""How a user's text becomes a test on values: ONE's matching rules, bounded in time.

This module exists so that every query (sessions, datasets, insertions) matches text the way ONE
does: a term is a regex search when ``wildcards`` (else a substring), a list is OR, ALF filters
(``filename``, ``collection``, ``revision``) become the regex ONE builds for ``rel_path``.
Tests run once per *unique* value (a few labs, a few hundred dataset paths) and are mapped back
to rows through category codes (``unique_mask``). Regexes use Python's ``re`` syntax (as ONE
does), never the pyarrow regex engine, with one time budget per pattern (``Bounded``). It changes
when ONE's matching rules change.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

try:  # a time limit on user patterns (see Bounded); optional
    import regex as _regex
except ImportError:  # pragma: no cover
    _regex = None

from one_tui.engine.core.spec import DEFAULTS, FILE_PARTS, FILE_SPEC, parse_date, shown

__all__ = ["REGEX_TIME_LIMIT", "Bounded", "RegexTimeLimit", "codes_and_uniques",
           "compile_pattern", "dataset_regex", "ensure_list", "text_matcher", "unique_mask",
           "validate_date_range"]


def ensure_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Index, pd.Series)):
        return list(value)
    return [value]


#: Seconds one user pattern may spend matching the unique values of a query: a catastrophic
#: pattern such as ``(a+)+$`` on 40 a's and a '!' would otherwise run for minutes.
REGEX_TIME_LIMIT = 5.0


class RegexTimeLimit(ValueError):
    """A user's regular expression took longer than ``REGEX_TIME_LIMIT`` (one-line message)."""


class Bounded:
    """A compiled pattern whose calls share one time budget. With the ``regex`` package the
    match runs with ``timeout`` and releases the GIL (``concurrent``), so the app stays
    responsive and escape works while it runs; without it, Python's ``re`` (unbounded)."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self._re = re.compile(pattern, flags)  # ONE's syntax and error messages
        self._rx: Any = None
        self._deadline: float | None = None
        if _regex is not None:
            try:
                self._rx = _regex.compile(pattern, flags | _regex.V0)
            except _regex.error:
                self._rx = None

    def _call(self, name: str, text: str) -> Any:
        if self._rx is None:
            return getattr(self._re, name)(text)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + REGEX_TIME_LIMIT
        try:
            return getattr(self._rx, name)(text, concurrent=True,
                                            timeout=max(self._deadline - now, 0.001))
        except TimeoutError:
            raise RegexTimeLimit(
                f'Regular expression "{shown(self.pattern, limit=60)}" gave up after '
                f"{REGEX_TIME_LIMIT:g} s (catastrophic backtracking?); simplify it") from None

    def search(self, text: str) -> Any:
        return self._call("search", text)

    def match(self, text: str) -> Any:
        return self._call("match", text)

    def fullmatch(self, text: str) -> Any:
        return self._call("fullmatch", text)


def compile_pattern(pattern: str, flags: int = 0) -> Bounded:
    try:
        return Bounded(pattern, flags)
    except re.error as exc:
        raise ValueError(f'Invalid regular expression "{shown(pattern)}": {exc}') from None


def text_matcher(values: Any, wildcards: bool) -> Callable[[str], bool]:
    """ONE's ``str.contains``: regex search when ``wildcards``, else substring; a list is OR."""
    queries = [str(v) for v in ensure_list(values)]
    if wildcards:
        rx = compile_pattern("|".join(queries))
        return lambda s: rx.search(s) is not None
    return lambda s: any(q in s for q in queries)


def codes_and_uniques(values: pd.Series | pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes per row and the unique values (categoricals are used as they are)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat if isinstance(values, pd.Series) else values
        return np.asarray(cat.codes), np.asarray(cat.categories, dtype=object)
    codes, uniques = pd.factorize(values)
    return np.asarray(codes), np.asarray(uniques, dtype=object)


def unique_mask(values: pd.Series, test: Callable[[str], bool]) -> np.ndarray:
    """Row mask of ``test`` evaluated once per unique non-null value."""
    codes, uniques = codes_and_uniques(values)
    hit = np.fromiter((bool(test(str(u))) for u in uniques), dtype=bool, count=len(uniques))
    hit = np.append(hit, False)  # code -1 (null) -> last element -> False
    return np.asarray(hit[codes], dtype=bool)


def validate_date_range(date_range: Any) -> tuple[np.datetime64, np.datetime64]:
    """Inclusive day bounds from a date, a 1-list (from) or a 2-list with optional None ends."""
    lo, hi = np.datetime64("NaT"), np.datetime64("NaT")
    if isinstance(date_range, (list, tuple)):
        if len(date_range) > 2:
            raise ValueError("date_range must be a date or a list of at most two dates")
        if len(date_range) == 0:
            return lo, hi
        first = date_range[0]
        second = date_range[1] if len(date_range) == 2 else None
        return (np.datetime64(parse_date(first), "D") if first is not None else lo,
                np.datetime64(parse_date(second), "D") if second is not None else hi)
    day = np.datetime64(parse_date(date_range), "D")
    return day, day




def _translate(value: str, wildcards: bool) -> str:
    """A part value as a regex: fnmatch when ``wildcards`` (without the end anchor)."""
    return fnmatch.translate(value).replace("\\Z", "") if wildcards else value


def _part_regex(value: Any, wildcards: bool) -> str:
    return "|".join(_translate(str(v), wildcards) for v in ensure_list(value))


def _fill(template: str, parts: dict[str, str]) -> str:
    """Replace ``{part}`` placeholders with named groups (user text is never str.format-ted)."""
    return re.sub(r"\{(\w+)\}",
                  lambda m: f"(?P<{m[1]}>{parts.get(m[1]) or DEFAULTS[m[1]]})", template)


def _collection_template(collection: Any, revision: Any) -> str:
    """None matches anything including nothing; '' matches only none; a value is required."""
    spec = ""
    for value, piece in zip((collection, revision), ("{collection}/", "#{revision}#/"),
                            strict=True):
        if value is None:
            spec += f"({piece})?"
        elif value == "" or value == []:
            continue
        else:
            spec += piece
    return spec


def dataset_regex(filename: Any = None, collection: Any = None, revision: Any = None,
                  wildcards: bool = True) -> Bounded:
    """The regex ONE builds to select ``rel_path`` values (anchored at the start)."""
    parts: dict[str, str] = {}
    if collection not in (None, ""):
        parts["collection"] = _part_regex(collection, wildcards)
    if revision not in (None, ""):
        parts["revision"] = _part_regex(revision, wildcards)
    head = _fill(_collection_template(collection, revision), parts)
    if isinstance(filename, dict) or not filename:
        given = dict(filename or {})
        unknown = set(given) - set(FILE_PARTS)
        if unknown:
            part = shown(sorted(unknown)[0])
            raise ValueError(f'Unknown ALF part "{part}"; expected {FILE_PARTS}')
        template = FILE_SPEC
        if given.get("namespace") is not None:
            template = template.replace("{namespace}?", "{namespace}")
        if given.get("timescale") is not None:
            template = template.replace("(?:_{timescale})?", "_{timescale}")
        file_parts = {k: _part_regex(v, wildcards) for k, v in given.items() if v is not None}
        tail = _fill(template, file_parts)
    else:
        names = []
        for name in ensure_list(filename):
            rx = fnmatch.translate(str(name)) if wildcards else f"{name}$"
            # a leading '*' must not swallow the collection: '.*' -> '[^/]*'
            rx = re.sub(r"^(\(\?s:)?\.\*", r"\1[^/]*", rx)
            names.append(rx)
        tail = "(?:" + "|".join(names) + ")"
    return compile_pattern("^" + head + tail)
