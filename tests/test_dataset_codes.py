"""The datasets table as codes (DatasetCodes) answers exactly as the loaded frame does.

Every query is run twice on the same synthetic tables: once on a fresh Cache (codes read from the
file, no pandas rows) and once with the frame loaded (the pandas path). Results must be equal,
order, dtypes and categories included. The synth tables are a small sample of the 10x benchmark's
(same generator, same layout: sessions contiguous, several row groups).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from one_tui.demo.synth import generate
from one_tui.engine.local import filewrite as tablewrite
from one_tui.engine.local import listing, merge, query
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.fileformat import read_table
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.store import load_cache, save_cache

UNKNOWN = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("codes")
    db = generate(n_sessions=400, seed=3)
    db.write_tables(folder)
    return folder


@pytest.fixture
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tablewrite, "ROW_GROUP_SIZE", 5000)  # several row groups, small table


def _pair(folder: Path) -> tuple[Cache, Cache]:
    codes, frame = load_cache(folder), load_cache(folder)
    frame.datasets  # noqa: B018 - the pandas path: the frame is loaded
    return codes, frame


def _equal(a, b) -> None:  # noqa: ANN001 - any query result
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert list(a.dtypes) == list(b.dtypes)
        assert list(a.index.names) == list(b.index.names)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _equal(a[k], b[k])
    else:
        assert a == b


CALLS = [
    ("search", dict(datasets="spikes.times.npy")),
    ("search", dict(datasets=["spikes.times.npy", "clusters.*"])),
    ("search", dict(dataset="spikes", lab="cortexlab")),
    ("search", dict(dataset_qc_lte="WARNING")),
    ("search", dict(datasets=".*", dataset_qc_lte="PASS")),
    ("list_datasets", dict()),
    ("list_datasets", dict(collection="alf*")),
    ("list_datasets", dict(filename="*.npy", qc="PASS", ignore_qc_not_set=True)),
    ("list_datasets", dict(default_revisions_only=True)),
    ("list_datasets", dict(revision="2*")),
    ("list_collections", dict()),
    ("list_revisions", dict()),
    ("list_collections", dict(filename="*.npy")),
]


@pytest.mark.parametrize(("name", "kwargs"), CALLS)
def test_whole_table_queries_match_the_frame(synth_dir: Path, name: str, kwargs: dict) -> None:
    codes, frame = _pair(synth_dir)
    module = query if hasattr(query, name) else listing  # search in query, list_* in listing
    a = getattr(module, name)(codes, **kwargs)
    assert isinstance(codes.datasets_for_query(), DatasetCodes)
    assert not codes.is_loaded("datasets")  # answered without the pandas rows
    _equal(a, getattr(module, name)(frame, **kwargs))


def test_list_datasets_order_with_several_row_groups(tmp_path: Path, small_row_groups: None
                                                     ) -> None:
    db = generate(n_sessions=300, seed=5)
    db.write_tables(tmp_path)
    codes, frame = _pair(tmp_path)
    assert len(codes.datasets_for_query()._starts) > 3
    for kwargs in ({}, {"collection": "alf"}, {"filename": "*.json"}):
        _equal(listing.list_datasets(codes, **kwargs), listing.list_datasets(frame, **kwargs))


def test_one_session_rows_match_the_frame(synth_dir: Path) -> None:
    codes, frame = _pair(synth_dir)
    eids = query.search(frame, datasets="spikes.times.npy")[:5] + [query.search(frame)[-1]]
    for eid in eids:
        for kwargs in ({"details": True}, {"details": True, "keep_eid_index": True},
                       {"details": True, "collection": "alf"}, {}):
            _equal(listing.list_datasets(codes, eid, **kwargs),
                   listing.list_datasets(frame, eid, **kwargs))
        _equal(query.get_details(codes, eid, full=True), query.get_details(frame, eid, full=True))
        _equal(listing.list_collections(codes, eid, details=True),
               listing.list_collections(frame, eid, details=True))
        _equal(listing.list_revisions(codes, eid, details=True),
               listing.list_revisions(frame, eid, details=True))
    _equal(listing.list_datasets(codes, UNKNOWN, details=True),
           listing.list_datasets(frame, UNKNOWN, details=True))
    assert not codes.is_loaded("datasets")


def test_codes_rows_equal_the_frame_rows(synth_dir: Path) -> None:
    codes = DatasetCodes.read(synth_dir / "datasets.pqt")
    frame, _ = read_table(synth_dir / "datasets.pqt")
    pos = np.array([0, 1, 7, len(frame) // 2, len(frame) - 1])
    _equal(codes.rows(pos), frame.iloc[pos])
    assert codes.ids(pos[::-1]) == [str(i) for i in frame.index.get_level_values("id")[pos[::-1]]]
    assert list(codes.eids) == list(frame.index.levels[0])
    assert list(codes.paths) == list(frame["rel_path"].cat.categories)


def test_merge_then_save_after_codes(synth_dir: Path, tmp_path: Path) -> None:
    """Into a table of at most LARGE_TABLE rows a merge loads the frame (codes give way); the
    merged rows are answered and saved, and read back as codes."""
    for p in synth_dir.glob("*.pqt"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    cache = load_cache(tmp_path)
    eid = query.search(cache, datasets="spikes.times.npy")[0]
    before = listing.list_datasets(cache, eid, details=True, keep_eid_index=True)
    new = before.iloc[:3].copy()
    new["qc"] = "CRITICAL"
    extra = before.iloc[:1].copy().rename(index={before.index[0][1]: UNKNOWN}, level="id")
    extra["rel_path"] = "alf/new.object.npy"
    cache.merge(origin="test", datasets=pd.concat([new, extra]))
    assert cache.is_loaded("datasets") and not isinstance(cache.datasets_for_query(),
                                                          DatasetCodes)
    assert "alf/new.object.npy" in listing.list_datasets(cache, eid)
    assert save_cache(cache)
    again = load_cache(tmp_path)
    after = listing.list_datasets(again, eid, details=True, keep_eid_index=True, qc="CRITICAL")
    assert isinstance(again.datasets_for_query(), DatasetCodes)
    assert set(new.index) <= set(after.index)  # the 3 updated rows, now CRITICAL
    assert "alf/new.object.npy" in listing.list_datasets(again, eid)
    frame = load_cache(tmp_path)
    frame.datasets  # noqa: B018
    _equal(listing.list_datasets(again, eid, details=True),
           listing.list_datasets(frame, eid, details=True))


def test_legacy_tables_are_not_read_as_codes(fixture_cache: Path) -> None:
    """ONE's legacy fixture (int id pairs, sorted on load) keeps the frame path."""
    assert DatasetCodes.read(fixture_cache / "datasets.pqt") is None
    cache = load_cache(fixture_cache)
    assert isinstance(cache.datasets_for_query(), pd.DataFrame)


def test_preload_is_cancellable_and_adopted(synth_dir: Path) -> None:
    from one_tui.engine.one import One

    one = One(cache_dir=synth_dir, mode="local")
    cancel = threading.Event()
    cancel.set()
    assert one.preload_datasets(cancel=cancel) is False
    assert not one._cache.datasets_ready()
    assert one.preload_datasets() is True
    assert one._cache.datasets_ready() and not one._cache.is_loaded("datasets")
    codes = one._cache.datasets_for_query()
    assert one.list_datasets() == listing.list_datasets(one._cache)
    assert one._cache.datasets_for_query() is codes  # no second read


def _copy(src: Path, dest: Path) -> Path:
    dest.mkdir()
    for p in src.glob("*.pqt"):
        (dest / p.name).write_bytes(p.read_bytes())
    return dest


def _compare_all(a: Cache, b: Cache, eids: list[str]) -> None:
    for name, kwargs in CALLS:
        module = query if hasattr(query, name) else listing
        _equal(getattr(module, name)(a, **kwargs), getattr(module, name)(b, **kwargs))
    for eid in eids:
        _equal(listing.list_datasets(a, eid, details=True, keep_eid_index=True),
               listing.list_datasets(b, eid, details=True, keep_eid_index=True))
        if eid in b.sessions.index:
            _equal(query.get_details(a, eid, full=True), query.get_details(b, eid, full=True))


def test_merges_into_codes_answer_as_merges_into_the_frame(
        synth_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Remote rows merged while only the codes are loaded (updates, new rows, new sessions,
    NA values, new paths, a second merge over appended rows) give the answers, the frame and
    the saved file of the same merges into the loaded frame."""
    monkeypatch.setattr(merge, "LARGE_TABLE", 1000)  # the big-table merge on a small sample
    a = load_cache(_copy(synth_dir, tmp_path / "a"))
    b = load_cache(_copy(synth_dir, tmp_path / "b"))
    b.datasets  # noqa: B018 - the frame path
    assert isinstance(a.datasets_for_query(), DatasetCodes)
    eids = query.search(b, datasets="spikes.times.npy")[:3]
    rows = listing.list_datasets(b, eids[0], details=True, keep_eid_index=True)
    # 1: updates (qc, exists, a moved path, a size now unknown) and new rows, one new session
    update = rows.iloc[:4].copy()
    update["qc"] = ["CRITICAL", "PASS", "FAIL", "WARNING"]
    update["exists"] = [False, True, False, True]
    update["rel_path"] = update["rel_path"].astype(object)
    update.iloc[1, update.columns.get_loc("rel_path")] = "alf/#2030-01-01#/moved.thing.npy"
    update["file_size"] = pd.array([None, 5, None, 7], dtype="UInt64")  # NA keeps the old value
    new_session = "0b8e4a1c-5d3f-4e2a-9b7c-1a2b3c4d5e6f"
    added = rows.iloc[:3].copy().reset_index()
    added["id"] = ["1a1a1a1a-0000-4000-8000-00000000000" + str(i) for i in range(3)]
    added["eid"] = [eids[1], new_session, new_session]
    added["rel_path"] = ["alf/new.object.npy", "raw/other.file.bin", "alf/new.object.npy"]
    batch1 = pd.concat([update.reset_index(), added], ignore_index=True)
    # 2: the appended rows again (one changed), and an untouched repeat of an update
    batch2 = added.copy()
    batch2["qc"] = ["PASS", "CRITICAL", "PASS"]
    batch2 = pd.concat([batch2, update.reset_index().iloc[[0]]], ignore_index=True)
    for batch in (batch1, batch2):
        a.merge(origin="test", datasets=batch.copy())
        b.merge(origin="test", datasets=batch.copy())
        assert not a.is_loaded("datasets")
        assert a.row_counts["datasets"] == b.row_counts["datasets"]
        _compare_all(a, b, [*eids, new_session])
    assert "raw/other.file.bin" in listing.list_datasets(a, qc="CRITICAL")  # CRITICAL in batch 2
    saved_a, saved_b = save_cache(a), save_cache(b)
    assert saved_a and saved_b
    _equal(a.datasets, b.datasets)  # replayed onto the frame for the save: the same frame
    fa, _ = read_table(tmp_path / "a" / "datasets.pqt")
    fb, _ = read_table(tmp_path / "b" / "datasets.pqt")
    _equal(fa, fb)


def test_a_merge_that_would_change_a_dtype_goes_to_the_frame(
        synth_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "LARGE_TABLE", 1000)
    a = load_cache(_copy(synth_dir, tmp_path / "a"))
    eid = query.search(a, datasets="spikes.times.npy")[0]
    rows = listing.list_datasets(a, eid, details=True, keep_eid_index=True).iloc[:1].reset_index()
    rows = rows.drop(columns=["exists"])  # filled with NA: bool no longer holds it
    a.merge(origin="test", datasets=rows)
    assert a.is_loaded("datasets")


def test_sessions_not_in_one_run_of_rows(synth_dir: Path, tmp_path: Path) -> None:
    """A table whose sessions' rows are interleaved (no row ranges): same answers."""
    frame, meta = read_table(synth_dir / "datasets.pqt")
    order = np.random.default_rng(0).permutation(len(frame))
    save_table(frame.iloc[order], tmp_path / "datasets.pqt", meta)
    (tmp_path / "sessions.pqt").write_bytes((synth_dir / "sessions.pqt").read_bytes())
    codes, loaded = _pair(tmp_path)
    assert codes.datasets_for_query()._ranges is None
    _compare_all(codes, loaded, query.search(loaded, datasets="spikes.times.npy")[:3])
    assert not codes.is_loaded("datasets")
