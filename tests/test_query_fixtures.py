"""ONE-api's confirmed results on its own (legacy) fixture tables, reproduced by our engine.

Every expected value comes from one-behaviour.md §5 ("Confirmed results", "Other checks"), which
were obtained by running ONE-api 3.6.1 offline on these same files.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pytest

from one_tui.engine.core.errors import ALFObjectNotFound
from one_tui.engine.core.spec import QC
from one_tui.engine.local import listing
from one_tui.engine.local import query as q
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.fileformat import qc_categorical
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.store import load_cache


@pytest.fixture
def cache(fixture_cache: Path) -> Cache:
    return load_cache(fixture_cache)


# --- search -------------------------------------------------------------------------------------


def test_search_subject(cache: Cache) -> None:
    assert q.search(cache, subject="ZM_335") == [
        "3473f9d2-aa5d-41a6-9048-c65d0b7ab97c", "dfe99506-b873-45db-bc93-731f9362e304"]


def test_search_laboratory_list_is_or_and_substring(cache: Cache) -> None:
    eids = q.search(cache, laboratory=["mainen", "cortexlab"])
    assert len(eids) == 25
    assert eids[:2] == ["d3372b15-f696-4279-9be5-98f15783b5bb",
                        "3473f9d2-aa5d-41a6-9048-c65d0b7ab97c"]


def test_search_dates(cache: Cache) -> None:
    assert q.search(cache, date="2019-06-07") == ["db524c42-6356-4c61-b236-4967c54d2665"]
    eids = q.search(cache, date=["2019-04-01", "2019-04-10"])
    assert len(eids) == 9
    assert eids[:2] == ["13c99443-01ee-462e-b668-717daa526fc0",
                        "abf5109c-d780-44c8-9561-83e857c7bc01"]
    assert q.search(cache, date_range=["2021-01-01", None]) == [
        "d3372b15-f696-4279-9be5-98f15783b5bb"]


def test_search_datasets_exact_names(cache: Cache) -> None:
    expected = ["d3372b15-f696-4279-9be5-98f15783b5bb", "b1c968ad-4874-468d-b2e4-5ffa9b9964e9",
                "cf264653-2deb-44cb-aa84-89b82507028a"]
    assert q.search(cache, datasets="spikes.depths.npy") == expected
    assert q.search(cache, datasets=r"^spikes\..+$") == expected
    assert q.search(cache, datasets="spikes.depths") == []  # 3.x: full file name needed


def test_search_dataset_partial_and_exists(cache: Cache) -> None:
    expected = ["d3372b15-f696-4279-9be5-98f15783b5bb", "b1c968ad-4874-468d-b2e4-5ffa9b9964e9",
                "cf264653-2deb-44cb-aa84-89b82507028a"]
    assert q.search(cache, dataset="spikes.depths") == expected
    # ONE's test: a dataset marked missing no longer counts
    dsets = cache.datasets
    first = dsets.index[dsets["rel_path"].astype(str).str.contains("spikes.depths")][0]
    dsets.loc[first, "exists"] = False
    assert len(q.search(cache, dataset="spikes.depths")) == 2
    assert len(q.search(cache, datasets="spikes.depths.npy")) == 2


def test_search_task_project_number(cache: Cache) -> None:
    assert q.search(cache, task="habituation") == ["ac80cd12-49e5-4aff-b5f2-1a718679ceeb"]
    assert len(q.search(cache, proj="neuropix")) == 20
    one = q.search(cache, num=1)
    assert len(one) == 21 and (cache.sessions.loc[one, "number"] == 1).all()
    two = q.search(cache, number="002")
    assert len(two) == 3 and (cache.sessions.loc[two, "number"] == 2).all()


def test_search_empty_details(cache: Cache) -> None:
    assert q.search(cache, num=100, subject="KS000", details=True) == ([], None)
    assert q.search(cache, num=500, details=True) == ([], None)


def test_search_several_short_terms(cache: Cache) -> None:
    assert q.search(cache, subj="KS005", date="2019-04-10", num="003", lab="cortexlab") == [
        "13c99443-01ee-462e-b668-717daa526fc0"]


def test_search_term_errors(cache: Cache) -> None:
    with pytest.raises(ValueError, match='Ambiguous search term "dat"'):
        q.search(cache, dat="2021-03-05")
    with pytest.raises(ValueError, match=r'Invalid search term "user", see `one.search_terms\(\)`'):
        q.search(cache, user="mister")


def test_search_details_are_session_columns_without_eid(cache: Cache) -> None:
    eids, details = q.search(cache, date="2019-04-10", lab="cortexlab", details=True)
    assert len(eids) == len(details) == 2
    assert set(details[0]) == set(cache.sessions.columns)
    assert details[0]["date"] == datetime.date(2019, 4, 10)
    assert [d["number"] for d in details] == [3, 2]  # number descending within a day


# --- list_* and details -------------------------------------------------------------------------


def test_list_subjects(cache: Cache) -> None:
    assert q.list_subjects(cache) == ["KS005", "ZFM-01935", "ZM_1094", "ZM_1150", "ZM_1743",
                                      "ZM_335", "clns0730", "flowers"]


def test_list_datasets(cache: Cache) -> None:
    assert len(listing.list_datasets(cache, filename="_ibl_trials*")) == 18
    assert listing.list_datasets(cache, filename="gnagnag") == []
    everything = listing.list_datasets(cache, details=True)
    assert len(everything) == 693 and everything is not cache.datasets
    one = listing.list_datasets(cache, "KS005/2019-04-02/001", details=True)
    assert len(one) == 27 and one.index.nlevels == 1
    kept = listing.list_datasets(cache, "KS005/2019-04-02/001", details=True, keep_eid_index=True)
    assert list(kept.index.names) == ["eid", "id"]
    names = listing.list_datasets(cache, "KS005/2019-04-02/001")
    assert names == sorted(names) and len(names) == len(set(names)) == 27


def test_list_datasets_with_dict_filename(cache: Cache) -> None:
    filename = {"attribute": ["times", "intervals"], "extension": "npy"}
    dsets = listing.list_datasets(cache, "ZFM-01935/2021-02-05/001", filename)
    assert len(dsets) == 10
    assert all(".times." in x or ".intervals" in x for x in dsets)
    filename["attribute"][0] += "*"
    dsets = listing.list_datasets(cache, "ZFM-01935/2021-02-05/001", filename)
    assert len(dsets) == 13 and sum(".timestamps." in x for x in dsets) == 3


def test_list_datasets_unknown_session_is_empty(cache: Cache) -> None:
    empty = listing.list_datasets(cache, "FMR019/2021-03-18/002", details=True)
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0


def test_list_collections(cache: Cache) -> None:
    assert listing.list_collections(cache) == [
        "", "alf", "alf/ks2", "alf/probe00", "raw_behavior_data", "raw_ephys_data",
        "raw_ephys_data/probe00", "raw_passive_data", "raw_video_data"]


def test_get_details(cache: Cache) -> None:
    det = q.get_details(cache, "aaf101c3-2581-450a-8abd-ddb8f557a5ad")
    assert det.name == "aaf101c3-2581-450a-8abd-ddb8f557a5ad"
    assert (det["subject"], det["date"], det["number"], det["lab"]) == (
        "KS005", datetime.date(2019, 4, 4), 4, "cortexlab")
    with pytest.raises(ALFObjectNotFound):
        q.get_details(cache, "aaf101c3-2581-450a-8abd-ddb8f557a5ae")


# --- test_filter on the first five rows ---------------------------------------------------------


def test_filter_first_five_rows(cache: Cache) -> None:
    datasets = cache.datasets.iloc[:5].copy()

    def count(**kw: object) -> int:
        return len(listing.filter_datasets(datasets, wildcards=False, **kw))

    assert count() == 5
    assert count(collection="alf") == 2
    assert count(filename="_iblrig_.*") == 3
    datasets["qc"] = qc_categorical(["NOT_SET", "PASS", "WARNING", "FAIL", "CRITICAL"])
    assert count() == 4  # CRITICAL hidden by default
    assert count(ignore_qc_not_set=True) == 3
    assert count(qc="PASS") == 2
    assert count(qc=30) == 3
    assert count(qc=QC.CRITICAL) == 5


# --- insertions (synthetic table, ONE's test_search_insertions numbers) -------------------------


@pytest.fixture
def with_insertions(fixture_cache: Path) -> Cache:
    ses = load_cache(fixture_cache).sessions
    flowers = ses.index[ses["subject"] == "flowers"][0]
    ks005 = ses.index[ses["subject"] == "KS005"][:2]
    rows = [
        (flowers, "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a001", "3B2", "probe00"),
        (flowers, "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a002", "3A", "probe01"),
        (ks005[0], "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a003", "3B2", "probe00"),
        (ks005[1], "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a004", "NP2.1", "probe01"),
    ]
    df = pd.DataFrame(rows, columns=["eid", "id", "model", "name"])
    df["serial"] = ["19051010", "19051011", "19051012", "19051013"]
    save_table(df.set_index(["eid", "id"]), fixture_cache / "insertions.pqt",
               {"origin": "test"})
    return load_cache(fixture_cache)


def test_search_insertions(with_insertions: Cache) -> None:
    c = with_insertions
    assert len(q.search_insertions(c, model="3B2")) == 2
    assert len(q.search_insertions(c, model=["3B2", "3A"])) == 3
    assert len(q.search_insertions(c, name="probe00")) == 2
    assert len(q.search_insertions(c, subject="flowers")) == 2
    with pytest.raises(NotImplementedError):
        q.search_insertions(c, json="foo")
    pids, det = q.search_insertions(c, subject="flowers", details=True)
    assert [d["name"] for d in det] == ["probe01", "probe00"]  # name descending
    assert {"model", "name", "date", "subject", "number", "eid"} <= set(det[0])
    assert "id" not in det[0]


def test_pid2eid_and_eid2pid_local(with_insertions: Cache) -> None:
    c = with_insertions
    eid, name = q.pid2eid(c, "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a002")
    assert c.sessions.loc[eid, "subject"] == "flowers" and name == "probe01"
    pids, names = q.eid2pid(c, eid)
    assert names == ["probe00", "probe01"] and pids[1] == "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a002"
    with pytest.raises(ALFObjectNotFound):
        q.pid2eid(c, "0f5a0d4e-8b8f-4d6b-9a57-6a2bb1e0a0ff")


def test_insertions_need_a_table(cache: Cache, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(NotImplementedError, match="Converting probe IDs requires remote"):
        q.pid2eid(cache, "b529f2d8-cdae-4d59-aba2-cbd1b5572e36")
    with pytest.raises(NotImplementedError, match="Converting to probe ID requires remote"):
        q.eid2pid(cache, "aaf101c3-2581-450a-8abd-ddb8f557a5ad")
    with caplog.at_level("WARNING", logger="one_tui.engine"):
        assert q.search_insertions(cache, model="3B2") == []
    assert "No insertions data loaded." in caplog.text
