"""The workers' bodies with a fake service and a list as ``post``: no app, no thread."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from one_tui.engine.core.errors import AlyxConnectionError
from one_tui.engine.core.results import Answer, Outcome
from one_tui.engine.core.types import FallbackReason, Mode, OutcomeKind, Source
from one_tui.engine.core.values import SearchRequest
from one_tui.tui import work
from one_tui.tui.export import ExportError, write_table
from one_tui.tui.messages import (
    EngineOpened,
    EngineStateChanged,
    JobDone,
    JobProgress,
    LoginNeeded,
    SearchDone,
    SuggestionsReady,
)
from one_tui.tui.state import Job
from tests.tui.test_state import T0, engine


class FakeService:
    """The service's methods, answering what the test sets."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.engine = answers.get("state", engine())

    def state(self):  # noqa: ANN201
        return self.engine

    def refresh_due(self, now: dt.datetime) -> bool:
        return bool(self.answers.get("refresh_due"))

    def goes_to_alyx(self, request: SearchRequest) -> bool:
        return request.alyx_only or request.query_type is Mode.REMOTE

    def search_sessions(self, request, *, cancel=None, on_page=None, on_rows=None):  # noqa: ANN001, ANN201
        self.calls.append("search")
        return self.answers["search"]

    def suggestions(self):  # noqa: ANN201
        self.calls.append("suggestions")
        return Answer({"lab": ("a",)})

    def connect(self, *, cancel=None, on_progress=None):  # noqa: ANN001, ANN201
        on_progress("logging in", None, None)
        on_progress("downloading", 1000, 2000)
        on_progress("downloading", 2000, 2000)  # within 0.25 s of the last: not sent
        return self.answers["connect"]

    def login(self, username, password, *, cancel=None, on_progress=None):  # noqa: ANN001, ANN201
        return self.answers["login"]

    def refresh(self, how, *, cancel=None, on_progress=None):  # noqa: ANN001, ANN201
        self.calls.append(f"refresh {how}")
        return self.answers["refresh"]


def sessions(n: int = 2) -> pd.DataFrame:
    return pd.DataFrame({"date": ["2025-01-01"] * n, "subject": ["s"] * n, "number": [1] * n,
                         "lab": ["a"] * n, "task_protocol": ["p"] * n, "projects": ["x"] * n},
                        index=[f"e{i}" for i in range(n)])


def test_phases_are_logged_where_produced_and_throttled() -> None:
    posted: list[Any] = []
    log: list[str] = []
    service = FakeService(connect=Outcome(OutcomeKind.NOT_EXPIRED, "fresh"))
    work.connect(service, None, posted.append, work.PhaseReporter(Job.CONNECT, posted.append,
                                                                   log), search_after=True)
    assert log == ["connect: logging in", "connect: downloading 1.0 kB / 2.0 kB"]
    assert [type(m) for m in posted] == [JobProgress, JobProgress, EngineStateChanged,
                                         EngineOpened]
    assert not posted[-1].login_needed and "suggestions" not in service.calls


def test_a_fallback_for_want_of_a_login_opens_the_form_and_brings_suggestions() -> None:
    from one_tui.engine.core.results import Fallback

    fallback = Fallback(Mode.AUTO, FallbackReason.LOGIN_NEEDED, "auto → local: no password")
    service = FakeService(connect=Outcome(OutcomeKind.LOCAL, "local"),
                          state=engine(Mode.LOCAL, Mode.AUTO, fallback=fallback,
                                       logged_in=False))
    posted: list[Any] = []
    work.connect(service, None, posted.append, work.PhaseReporter(Job.CONNECT, posted.append),
                 search_after=True)
    opened = next(m for m in posted if isinstance(m, EngineOpened))
    assert opened.login_needed and isinstance(posted[-1], SuggestionsReady)


def test_a_refused_login_is_said_on_the_form() -> None:
    service = FakeService(login=Outcome(OutcomeKind.LOGIN_REFUSED, "refused", detail="bad"))
    posted: list[Any] = []
    work.login(service, "u", "p", None, posted.append,
               work.PhaseReporter(Job.LOGIN, posted.append), search_after=True)
    assert isinstance(posted[0], LoginNeeded) and posted[0].error == "Login refused: bad"


def test_search_refreshes_first_when_due_and_converts_rows() -> None:
    service = FakeService(refresh_due=True, search=Answer(sessions(), Source.LOCAL),
                          refresh=Outcome(OutcomeKind.NEW_TABLES, "new tables from X"))
    posted: list[Any] = []
    work.search(service, SearchRequest(), 7, None, posted.append,
                work.PhaseReporter(Job.SEARCH, posted.append), now=lambda: T0,
                timer=iter([0.0, 1.5]).__next__)
    assert service.calls[:2] == ["refresh auto", "search"]
    done = next(m for m in posted if isinstance(m, SearchDone))
    assert done.search_id == 7 and done.table is not None and done.table.num_rows == 2
    assert done.seconds == 1.5 and not done.remote
    assert any(isinstance(m, JobDone) and m.text == "Tables expired: new tables from X"
               for m in posted)
    assert any(isinstance(m, SuggestionsReady) for m in posted)  # no terms: all sessions


def test_a_failed_search_posts_its_answer_without_rows() -> None:
    error = AlyxConnectionError("down")
    service = FakeService(search=Answer(None, Source.ALYX, error=error))
    posted: list[Any] = []
    work.search(service, SearchRequest(query_type=Mode.REMOTE), 1, None, posted.append,
                work.PhaseReporter(Job.SEARCH, posted.append), now=lambda: T0,
                timer=lambda: 0.0)
    done = next(m for m in posted if isinstance(m, SearchDone))
    assert done.table is None and done.answer.error is error and done.remote


def test_refresh_says_what_happened() -> None:
    out = Outcome(OutcomeKind.UNREACHABLE, "Alyx unreachable: down", asked_alyx=True)
    posted: list[Any] = []
    work.refresh(FakeService(refresh=out), Mode.REFRESH, None, posted.append,
                 work.PhaseReporter(Job.REFRESH, posted.append))
    done = posted[0]
    assert isinstance(done, JobDone) and done.severity == "warning"
    assert done.text == "Forced refresh: Alyx unreachable: down" and done.outcome is out


def test_write_table_rules(tmp_path: Path) -> None:
    import pyarrow as pa

    table = pa.table({"a": [1, 2]})
    with pytest.raises(ExportError, match="no such folder"):
        write_table(table, tmp_path / "missing" / "x.csv", "csv")
    assert not (tmp_path / "missing").exists()  # nothing was created
    with pytest.raises(ExportError, match="is a folder"):
        write_table(table, tmp_path, "csv")
    target = tmp_path / "x.csv"
    assert write_table(table, target, "csv") == 2
    with pytest.raises(FileExistsError):
        write_table(table, target, "csv")
    assert write_table(pa.table({"a": [3]}), target, "csv", overwrite=True) == 1
    assert target.read_text().splitlines() == ['"a"', "3"]
    assert write_table(table, tmp_path / "x.pqt", "parquet") == 2
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
