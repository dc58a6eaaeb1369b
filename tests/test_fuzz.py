"""Arbitrary input where users and servers put it: any text in every search term, filter field
and session id; any JSON from Alyx (records, page envelopes) and in REST cache files.

Nothing may crash with an unexpected exception type: a rejection is a ValueError (or an engine
exception) whose message is one printable line, the way the app shows it in a toast.
Hypothesis runs derandomized so CI is reproducible.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from one_tui.demo.synth import generate
from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import ALFError, AlyxError, MalformedResponse
from one_tui.engine.local import converters
from one_tui.engine.local.query import SEARCH_TERMS
from one_tui.engine.one import One
from one_tui.engine.remote import records as remote
from one_tui.engine.remote.client import AlyxClient
from one_tui.engine.remote.rest_cache import cache_key
from one_tui.engine.remote.urls import list_query
from one_tui.tui.widgets import filters
from one_tui.tui.widgets.filters import FIELDS, FilterError, FiltersPane

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

# Text users type (and paste), plus values that once slipped through a check.
TRICKY = st.sampled_from(["²", "٣", "１２", "2024-13-01", "2024-02-30", "٢٠٢٤-٠١-٠١", "(", "*",
                          "[", "a{2", "\\", "1e3", "nan", "inf", "-1", "PASS", "pass ", "30",
                          "0x1F", "1_0", "", " ", "\x1b[2J", "a\nb", "\x00", "ﬁ", "İ"])
TEXT = TRICKY | st.text(max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=5),
    max_leaves=16)
RECORD_KEYS = ("id", "url", "start_time", "date", "number", "lab", "subject", "projects",
               "task_protocol", "session", "session_info", "name", "model", "json", "serial",
               "datasets", "file_size", "qc", "data_url", "collection", "revision",
               "default_revision", "hash", "auto_datetime", "data_dataset_session_related")
RECORD = st.dictionaries(st.sampled_from(RECORD_KEYS), JSON | TEXT, max_size=10)


def assert_clean_rejection(exc: BaseException) -> None:
    """What a user may see: a ValueError or engine error, one printable line, no traceback."""
    assert isinstance(exc, ValueError | ALFError | AlyxError), repr(exc)
    message = str(exc)
    assert message.strip(), repr(exc)
    assert message.isprintable(), f"control characters in {message!r}"
    assert "Traceback" not in message and 'File "' not in message


@pytest.fixture(scope="module")
def db() -> Any:
    return generate(n_sessions=30, seed=5)


@pytest.fixture(scope="module")
def local_one(db: Any) -> Iterator[One]:
    with tempfile.TemporaryDirectory() as folder:
        db.write_tables(folder)
        yield One(cache_dir=folder, mode="local")


# --- search terms and ids --------------------------------------------------------------------


@FUZZ
@given(term=st.sampled_from(SEARCH_TERMS), value=TEXT | st.lists(TEXT, max_size=3))
def test_any_text_in_any_search_term(local_one: One, term: str, value: Any) -> None:
    try:
        eids = local_one.search(**{term: value})
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        assert_clean_rejection(exc)
    else:
        assert set(eids) <= set(local_one.search())


@FUZZ
@given(term=st.text(max_size=20), value=TEXT)
def test_any_term_name(local_one: One, term: str, value: str) -> None:
    """A misspelt or pasted term name: completed as ONE completes it, or one clear line."""
    try:
        local_one.search(**{term: value})
    except Exception as exc:  # noqa: BLE001
        assert_clean_rejection(exc)


SESSION_PATHS = st.from_regex(r"(\w{1,8}/Subjects/)?[\w.-]{1,8}/\d{4}-\d{2}-\d{2}/\d{1,3}/?",
                              fullmatch=True)
REFS = st.from_regex(r"\d{4}-\d{2}-\d{2}_\d{1,3}_[\w.-]{1,8}", fullmatch=True)


@FUZZ
@given(text=TEXT | SESSION_PATHS | REFS | st.uuids().map(str)
       | st.uuids().map(lambda u: f"https://alyx.org/sessions/{u}/"))
def test_any_text_as_a_session_id(local_one: One, db: Any, text: str) -> None:
    for convert in (lambda t: converters.to_eid(t), local_one.to_eid):
        try:
            eid = convert(text)
        except Exception as exc:  # noqa: BLE001
            assert_clean_rejection(exc)
        else:
            assert eid is None or converters.is_uuid_string(eid), eid


def test_known_ids_still_resolve(local_one: One, db: Any) -> None:
    """The fuzzed converter is the real one: refs and paths of the table find their session."""
    eid = str(db.sessions.index[0])
    row = db.sessions.loc[eid]
    ref = f"{row['date']}_{int(row['number'])}_{row['subject']}"
    path = f"{row['lab']}/Subjects/{row['subject']}/{row['date']}/{int(row['number']):03d}"
    assert local_one.to_eid(ref) == local_one.to_eid(path) == local_one.to_eid(eid.upper())
    assert local_one.to_eid(path) == eid


# --- the app's filter checks -----------------------------------------------------------------


@FUZZ
@given(text=TEXT)
def test_every_field_check_answers_in_one_line(text: str) -> None:
    checks = {f.key: f.check for f in FIELDS if f.check} | {"regex": filters.regex_problem}
    for key, check in checks.items():
        problem = check(text.strip())
        assert problem is None or (problem.strip() and "\n" not in problem), (key, problem)


class _FiltersOnly(App):
    def compose(self) -> ComposeResult:
        yield FiltersPane(id="filters")


LOCAL_FIELDS = [f.key for f in FIELDS if not f.remote_only]


async def test_validated_filters_never_make_the_search_fail(local_one: One) -> None:
    """Whatever is typed into the local filter fields: the pane flags it (FilterError), or the
    terms it builds run on the engine without any error (a '²' once crashed the app here)."""
    app = _FiltersOnly()
    async with app.run_test(size=(100, 60)):
        pane = app.query_one(FiltersPane)
        outcomes = {"flagged": 0, "searched": 0}

        @FUZZ
        @given(values=st.fixed_dictionaries({}, optional={k: TEXT for k in LOCAL_FIELDS}))
        def fill_and_search(values: dict[str, str]) -> None:
            for key in LOCAL_FIELDS:
                pane.set_value(key, values.get(key, ""))
            try:
                terms, remote_only = pane.collect()
            except FilterError as exc:
                assert_clean_rejection(exc)
                outcomes["flagged"] += 1
                return
            assert not remote_only
            local_one.search(**terms)
            outcomes["searched"] += 1

        fill_and_search()
    assert outcomes["flagged"] and outcomes["searched"], outcomes


# --- JSON from Alyx --------------------------------------------------------------------------


@FUZZ
@given(records=st.lists(RECORD | JSON, max_size=4), record=RECORD,
       datasets=st.lists(RECORD | JSON, max_size=3))
def test_any_json_into_the_record_converters(records: list, record: dict,
                                             datasets: list) -> None:
    detail = {**record, "data_dataset_session_related": datasets}
    calls = {
        "sessions_from_records": lambda: remote.sessions_from_records(records),
        "session_details": lambda: remote.session_details(record),
        "datasets_from_session": lambda: remote.datasets_from_session(detail),
        "insertions_from_records": lambda: remote.insertions_from_records(records),
        "eid_of": lambda: remote.eid_of(record),
    }
    for name, call in calls.items():
        try:
            out = call()
        except Exception as exc:  # noqa: BLE001
            assert_clean_rejection(exc)
            assert isinstance(exc, MalformedResponse) or name == "session_details", name
        else:
            if name == "sessions_from_records":
                assert isinstance(out, pd.DataFrame) and len(out) == len(records)


def _client(folder: Path, answers: list[Any], cache_rest: str | None = None) -> AlyxClient:
    """A client whose Alyx answers each GET with the next of ``answers`` (then 404)."""
    pending = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            return httpx.Response(200, json=next(pending))
        except StopIteration:
            return httpx.Response(404, json={"detail": "Not found."})

    return AlyxClient("http://alyx.test", username="u", token="t", cache_dir=folder,
                      cache_rest=cache_rest, transport=httpx.MockTransport(handler))


ENVELOPE = st.fixed_dictionaries({
    "count": st.integers(-1, 6) | JSON,
    "next": st.none() | st.just("http://alyx.test/sessions?subject=x&offset=1") | JSON,
    "results": st.lists(JSON, max_size=3) | JSON})


@FUZZ
@given(pages=st.lists(ENVELOPE | JSON, min_size=1, max_size=4))
def test_any_json_as_list_pages(tmp_path: Path, pages: list) -> None:
    client = _client(tmp_path, pages)
    try:
        rows = client.rest("sessions", "list", subject="x")
    except Exception as exc:  # noqa: BLE001
        assert_clean_rejection(exc)
    else:  # an envelope gives the list of its rows; any other JSON is returned as it came
        first = pages[0]
        if isinstance(first, dict) and {"count", "next", "results"} <= first.keys():
            assert isinstance(rows, list)
        else:
            assert rows == first
    finally:
        client.close()


REST_ANSWER = [{"id": "5b2b9a1c-4e0c-4f35-9d73-5d1e3b1f0a10", "subject": "KS005"}]


@FUZZ
@given(entry=JSON.map(json.dumps) | st.text(max_size=40)
       | st.tuples(JSON, st.datetimes().map(lambda d: d.isoformat()) | TEXT).map(
           lambda pair: json.dumps(list(pair))))
def test_any_rest_cache_file(tmp_path: Path, entry: str) -> None:
    """A REST cache entry written by anything: used if it is a ``[value, expiry]`` pair still
    fresh, else Alyx is asked; the client never fails because of the file."""
    query = list_query("sessions", subject="x")
    rest_dir = tmp_path / ".rest"
    rest_dir.mkdir(exist_ok=True)
    (rest_dir / cache_key(query)).write_text(entry)
    client = _client(tmp_path, [REST_ANSWER], cache_rest="GET")
    rec = outcome.Recorder()
    try:
        with outcome.recording() as rec:
            rows = client.rest("sessions", "list", subject="x")
        if not rec.cached:
            assert rows == REST_ANSWER
        assert client.rest_cache_stats["entries"] <= 1
    except Exception as exc:  # noqa: BLE001 - a fresh entry holding a bad envelope
        assert rec.cached
        assert_clean_rejection(exc)
    finally:
        client.close()
