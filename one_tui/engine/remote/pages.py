"""Alyx list answers page by page: ONE's ``_PaginatedResponse`` idea, as an iterator.

A list endpoint answers ``{"count", "next", "results"}``. ONE asks the first page, then
``limit=<first page length>&offset=k`` pages built from ``next``; so does :func:`pages`, so the
page URLs (hence the REST cache file names) are ONE's. Kept apart from the client so that the
paging rules (a count that changes between pages, a short or empty page, a cancel between
pages) are read in one place and do not depend on how a page is fetched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from one_tui.engine.core import results as outcome
from one_tui.engine.core.bounded import MAX_PAGES
from one_tui.engine.core.errors import MalformedResponse
from one_tui.engine.remote.retries import Cancelled
from one_tui.engine.remote.urls import endpoint_label, update_url_params

__all__ = ["Page", "is_envelope", "is_list_answer", "envelope", "pages"]

_PAGE_KEYS = {"count", "next", "results"}


@dataclass(frozen=True)
class Page:
    """One page of a list answer: its records (cut to the announced count), the number of
    records so far (this page's included) and the count Alyx announces now."""

    records: list[Any]
    done: int
    count: int


def is_envelope(answer: Any) -> bool:
    """True when ``answer`` looks like a paginated list (else the endpoint did not paginate)."""
    return isinstance(answer, dict) and answer.keys() >= _PAGE_KEYS


def is_list_answer(answer: Any) -> bool:
    """The shape of a ``list`` answer: a well-formed page envelope, or a plain list."""
    if isinstance(answer, list):
        return True
    try:
        envelope(answer, "")
    except MalformedResponse:
        return False
    return True


def envelope(page: Any, query: str) -> tuple[int, str | None, list[Any]]:
    """(count, next, results) of a list page; MalformedResponse when it is not Alyx's shape."""
    where = endpoint_label(query)
    if not is_envelope(page):
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: not a list envelope")
    count, nxt, results = page["count"], page["next"], page["results"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: count is not a number")
    if nxt is not None and not isinstance(nxt, str):
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: next is not a URL")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: results is not a list")
    return count, nxt, results


def pages(
    first: Any,
    query: str,
    *,
    fetch: Callable[[str], Any],
    origin: str,
    cancel: threading.Event | None,
    note: Callable[[str], None],
    max_pages: int = MAX_PAGES,
) -> Iterator[Page]:
    """The pages of a list answer whose first page is ``first`` (the answer to ``query``).

    ``fetch`` gets each further page's query (it may raise :class:`Cancelled`); ``origin`` is
    the base URL a first page without ``next`` is completed with. ``cancel`` is checked between
    pages: a cancel ends the iteration and the call's record says cancelled. ``note`` gets the
    warning that the count changed between pages (the answer may then be inconsistent).
    More than ``max_pages`` pages (announced at first, or once the count changed) raise
    MalformedResponse: a count of 10^9 with full pages would otherwise page for ever.
    """
    count, next_url, records = envelope(first, query)
    limit = done = len(records)
    _check_pages(count, limit, max_pages, query)
    yield Page(list(records), done, count)
    next_url = next_url or (origin + query)
    offset = limit
    while limit and offset < count:
        if cancel is not None and cancel.is_set():
            outcome.cancelled()
            return
        page_query = update_url_params(next_url, {"limit": limit, "offset": offset})
        try:
            answer = fetch(page_query)
        except Cancelled:
            outcome.cancelled()
            return
        page_count, _, page_records = envelope(answer, page_query)
        if page_count != count:
            note(f"remote results for {endpoint_label(page_query)} endpoint changed; "
                 "results may be inconsistent")
            count = page_count
            _check_pages(count, limit, max_pages, query)
        if not page_records:
            return
        kept = page_records[: max(count - offset, 0)]
        done += len(kept)
        offset += limit
        yield Page(list(kept), done, count)


def _check_pages(count: int, limit: int, max_pages: int, query: str) -> None:
    """MalformedResponse when ``count`` rows in pages of ``limit`` would pass ``max_pages``."""
    if limit and -(-count // limit) > max_pages:
        raise MalformedResponse(
            f"Alyx announces {count:,} results for {endpoint_label(query)}: more than "
            f"{max_pages:,} pages of {limit:,}; not read (a broken or hostile server?)")
