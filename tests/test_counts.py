"""Counts of a search's results (issue 19): each must equal pandas' ``value_counts`` of the
same rows, the timeline must hold every session once, and dataset QC counts must be what the
datasets table says of the result's sessions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from one_tui.demo import synth
from one_tui.engine import EngineService, SearchRequest
from one_tui.engine.counts import NONE, session_counts
from one_tui.tui.convert import sessions_table


@pytest.fixture(scope="module")
def db() -> Any:
    return synth.generate(n_sessions=2000, seed=7)


@pytest.fixture(scope="module")
def frame(db: Any) -> pd.DataFrame:
    return db.sessions


def as_dict(rows: Any) -> dict[str, int]:
    return {r.value: r.sessions for r in rows}


def test_counts_equal_pandas_value_counts(frame):
    table = sessions_table(frame)  # the table the results pane holds
    counts = session_counts(table)
    assert counts.total == len(frame)
    for column in ("lab", "subject", "task_protocol"):
        expected = frame[column].replace("", None).value_counts(dropna=False)
        expected.index = [NONE if pd.isna(v) else v for v in expected.index]
        assert as_dict(counts.by[column]) == expected.to_dict()
        shown = [r.sessions for r in counts.by[column]]
        assert shown == sorted(shown, reverse=True)  # most first
    projects = frame["projects"].fillna("").str.split(",").explode().str.strip()
    expected = projects.replace("", None).value_counts(dropna=False)
    expected.index = [NONE if pd.isna(v) else v for v in expected.index]
    assert as_dict(counts.by["projects"]) == expected.to_dict()


def test_timeline_holds_every_session_once_in_its_week(frame):
    counts = session_counts(sessions_table(frame))
    assert sum(n for _, n in counts.timeline) == len(frame)
    days = pd.to_datetime(frame["date"])
    if counts.period == "week":
        starts = [d for d, _ in counts.timeline]
        assert all(d.weekday() == 0 for d in starts)
        assert all(b - a == timedelta(days=7) for a, b in zip(starts, starts[1:], strict=False))
        monday = (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.date
        expected = monday.value_counts()
        got = {d: n for d, n in counts.timeline if n}
        assert got == expected.to_dict()
    else:
        month = days.dt.to_period("M").dt.start_time.dt.date
        assert {d: n for d, n in counts.timeline if n} == month.value_counts().to_dict()


def test_a_long_range_is_counted_per_month():
    days = [date(2019, 1, 3), date(2019, 1, 30), date(2023, 6, 1)]
    table = pa.table({"date": pa.array(days, pa.date32()), "lab": ["a", "b", "a"]})
    counts = session_counts(table)
    assert counts.period == "month"
    assert counts.timeline[0] == (date(2019, 1, 1), 2) and counts.timeline[-1] == (
        date(2023, 6, 1), 1)
    assert len(counts.timeline) == 4 * 12 + 6


def test_dataset_qc_counts_are_the_result_sessions_per_qc(db, tmp_path, home):
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(db.cache_zip_bytes(db.date_created))) as zf:
        zf.extractall(tmp_path)
    svc = EngineService.open(cache_dir=tmp_path, mode="local")
    terms = {"dataset": "trials"}
    found = svc.search_sessions(SearchRequest(terms)).value
    table = sessions_table(found)
    counts = svc.count_sessions(table, terms).value
    ds = db.datasets.reset_index()
    ds = ds[ds["eid"].isin(found.index) & ds["rel_path"].str.contains("trials") & ds["exists"]]
    expected = ds.drop_duplicates(["eid", "qc"])["qc"].astype(str).value_counts()
    assert as_dict(counts.by["dataset_qc"]) == expected[expected > 0].to_dict()
    assert "dataset_qc" not in svc.count_sessions(table, {}).value.by
