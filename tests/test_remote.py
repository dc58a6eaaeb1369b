"""ONE terms -> Alyx filters and REST records -> table rows (remote.py), without a server."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlencode

import pandas as pd
import pytest

from one_tui.engine.remote import filters as remote_filters
from one_tui.engine.remote import records as remote
from tests.conftest import FIXTURES

EID = "fc737f3c-2a57-4165-9763-905413e7e341"
DID = "00ca1432-216f-409b-987d-230febcbd2fb"


# ---------------------------------------------------------------------------------------------
# Terms -> filters


def test_filters_match_the_url_one_sends():
    """The §3.2 example: same keys, same order (django first, then sorted), same encoding."""
    filters = remote_filters.session_filters(
        subject="KS005", laboratory="cortexlab", date_range=["2019-04-01", "2019-04-10"],
        number=1, projects="brainwide", task_protocol="training",
        datasets=["a.b.npy", "c.d.npy"], dataset_qc_lte="WARNING", django="foo,bar")
    assert "/sessions?" + urlencode(filters) == (
        "/sessions?django=foo%2Cbar&dataset_qc_lte=WARNING&datasets=a.b.npy%2Cc.d.npy"
        "&date_range=2019-04-01%2C2019-04-10&lab=cortexlab&number=1&projects=brainwide"
        "&subject=KS005&task_protocol=training")


def test_terms_autocomplete_as_one_does():
    """``lab`` -> ``laboratory`` -> ``lab`` filter; ``date`` -> date_range; ``subj`` -> subject."""
    assert remote_filters.session_filters(lab="mainenlab", date="2020-01-05", subj="KS1") == {
        "date_range": "2020-01-05,2020-01-05", "lab": "mainenlab", "subject": "KS1"}


def test_unknown_term_is_refused_with_ones_message():
    with pytest.raises(ValueError, match="Invalid search term"):
        remote_filters.session_filters(colour="blue")


@pytest.mark.parametrize(("value", "expected"), [
    ("2021-03-04", "2021-03-04,2021-03-04"),
    (date(2021, 3, 4), "2021-03-04,2021-03-04"),
    (["2021-03-04"], "2021-03-04,2262-04-11"),
    ([None, "2021-03-04"], "1677-09-21,2021-03-04"),
    (("2021-01-01", None), "2021-01-01,2262-04-11"),
    (pd.Timestamp("2021-03-04 17:00"), "2021-03-04,2021-03-04"),
])
def test_date_range_format(value, expected):
    assert remote_filters.format_date_range(value) == expected


def test_date_range_refuses_three_dates_and_bad_dates():
    with pytest.raises(ValueError, match="one or two"):
        remote_filters.format_date_range(["2021-01-01", "2021-01-02", "2021-01-03"])
    with pytest.raises(ValueError, match="2021-13-01"):
        remote_filters.format_date_range("2021-13-01")


def test_remote_only_terms_are_sent():
    """Terms only Alyx understands go through as strings; QC names are validated first."""
    f = remote_filters.session_filters(performance_gte=80, performance_lte=95.5, qc="fail",
                               extended_qc={"behavior": 1}, histology=True,
                               atlas_acronym="VISp", narrative="ok", users=["a", "b"],
                               tag="2021_Q1")
    assert f == {"atlas_acronym": "VISp", "extended_qc": "behavior,1", "histology": "True",
                 "narrative": "ok", "performance_gte": "80", "performance_lte": "95.5",
                 "qc": "FAIL", "tag": "2021_Q1", "users": "a,b"}
    with pytest.raises(ValueError, match="Invalid QC"):
        remote_filters.session_filters(qc="great")


def test_dataset_term_becomes_a_django_clause_after_the_users_one():
    f = remote_filters.session_filters(dataset="spikes", django="~lab__name,x")
    assert f == {"django": "~lab__name,x,data_dataset_session_related__name__icontains,spikes"}
    with pytest.raises(TypeError, match='For lists use "datasets"'):
        remote_filters.session_filters(dataset=["a", "b"])


def test_search_terms_are_local_plus_endpoint_params_without_lab():
    terms = remote_filters.search_terms()
    assert "lab" not in terms and "laboratory" in terms
    for t in ("performance_gte", "histology", "atlas_acronym", "django", "datasets"):
        assert t in terms
    assert len(set(terms)) == len(terms)


def test_insertion_filters_follow_one():
    """§3.3 example URL, and the list TypeError."""
    f = remote_filters.insertion_filters(dataset="spikes", laboratory="cortexlab", number=1,
                                 subject="KS005")
    # ONE sorts the names the caller typed: laboratory < number, sent as lab, experiment_number
    assert urlencode(f) == ("django=datasets__name__icontains%2Cspikes&lab=cortexlab"
                            "&experiment_number=1&subject=KS005")
    with pytest.raises(TypeError, match='"dataset" parameter must be a string'):
        remote_filters.insertion_filters(dataset=["spikes"])
    with pytest.raises(ValueError, match="Invalid search term"):
        remote_filters.insertion_filters(date_range="2020-01-01")


# ---------------------------------------------------------------------------------------------
# Records -> rows


LIST_RECORDS = [
    {"id": EID, "subject": "KS055", "start_time": "2021-05-10T17:47:13.833000", "number": 1,
     "lab": "cortexlab", "projects": ["p1", "p2"], "url": f"http://x/sessions/{EID}",
     "task_protocol": "_iblrig_tasks_ephysChoiceWorld6.4.2"},
    {"subject": "ZM_1", "start_time": "2020-01-02T09:00:00", "number": 3, "lab": "zadorlab",
     "projects": [], "url": "http://x/sessions/AAAAAAAA-2a57-4165-9763-905413e7e341",
     "task_protocol": None},
]


def test_session_list_records_become_session_rows():
    df = remote.sessions_from_records(LIST_RECORDS)
    assert list(df.index) == [EID, "aaaaaaaa-2a57-4165-9763-905413e7e341"]  # server order
    assert df.index.name == "id"
    assert df.loc[EID, "date"] == date(2021, 5, 10)
    assert df.loc[EID, "projects"] == "p1,p2"
    assert df.iloc[1]["projects"] == "" and df.iloc[1]["task_protocol"] == ""
    assert list(df.columns) == ["lab", "subject", "date", "number", "task_protocol", "projects"]
    assert remote.session_details(LIST_RECORDS[0])["date"] == date(2021, 5, 10)


def _dataset(id_, name, collection, revision="", default="True", qc="PASS", url=True):
    rev = f"#{revision}#/" if revision else ""
    stem, ext = name.rsplit(".", 1)
    data_url = (f"https://ibl.flatironinstitute.org/cortexlab/Subjects/KS055/2021-05-10/001/"
                f"{collection}/{rev}{stem}.{id_}.{ext}") if url else None
    return {"id": id_, "name": name, "dataset_type": stem, "data_url": data_url,
            "url": f"http://x/datasets/{id_}", "file_size": 10, "hash": "h", "version": "1",
            "collection": collection, "revision": revision, "default_revision": default,
            "qc": qc}


def test_session_detail_gives_session_and_dataset_rows():
    """ses2records: rel_path from data_url minus UUID, 'True'/'False' strings to bool."""
    ids = [f"{i}0ca1432-216f-409b-987d-230febcbd2fb" for i in range(4)]
    record = dict(LIST_RECORDS[0], data_dataset_session_related=[
        _dataset(ids[0], "spikes.times.npy", "alf/probe00", default="True", qc="PASS"),
        _dataset(ids[1], "spikes.times.npy", "alf/probe00", revision="2024-01-01",
                 default="False", qc="CRITICAL"),
        _dataset(ids[2], "_ibl_trials.table.pqt", "alf", qc=40),
        _dataset(ids[3], "raw.wav", "raw_behavior_data", revision="v2", url=False),
    ])
    ses, ds = remote.datasets_from_session(record)
    assert list(ses.index) == [EID]
    assert ds.index.names == ["eid", "id"]
    rows = ds.reset_index().set_index("id")
    assert rows.loc[ids[0], "rel_path"] == "alf/probe00/spikes.times.npy"
    assert rows.loc[ids[1], "rel_path"] == "alf/probe00/#2024-01-01#/spikes.times.npy"
    assert rows.loc[ids[2], "rel_path"] == "alf/_ibl_trials.table.pqt"
    assert rows.loc[ids[3], "rel_path"] == "raw_behavior_data/#v2#/raw.wav"  # no data_url
    assert rows["default_revision"].tolist() == [True, False, True, True]
    assert rows["qc"].tolist() == ["PASS", "CRITICAL", "FAIL", "PASS"]
    assert rows["qc"].cat.ordered and (rows["eid"] == EID).all()
    assert str(rows["file_size"].dtype) == "UInt64"


def test_session_without_datasets_gives_no_dataset_rows():
    ses, ds = remote.datasets_from_session(LIST_RECORDS[0])
    assert len(ses) == 1 and len(ds) == 0 and ds.index.names == ["eid", "id"]


def test_insertion_records_from_ones_fixture():
    """ONE's own REST fixture for /insertions/<pid>: insertion row + its session row."""
    raw = json.loads((FIXTURES / "rest_responses" /
                      "f530d6022f61cdc9e38cc66beb3cb71f3003c9a1").read_text())[0]
    ins, ses = remote.insertions_from_records([raw])
    assert list(ins.index) == [(EID, "b529f2d8-cdae-4d59-aba2-cbd1b5572e36")]
    row = ins.iloc[0]
    assert row["name"] == "probe00" and row["model"] == "3B2"
    assert DID in row["datasets"]  # detail records list dataset dicts: ids are kept
    assert "session_info" not in ins.columns
    assert ses.loc[EID, "subject"] == "KS055" and ses.loc[EID, "date"] == date(2021, 5, 10)
    assert ses.loc[EID, "projects"] == "ibl_neuropixel_brainwide_01"


def test_remove_uuid_string():
    assert remote.remove_uuid_string(
        f"alf/spikes.times.{DID}.npy") == "alf/spikes.times.npy"
    assert remote.remove_uuid_string("alf/spikes.times.npy") == "alf/spikes.times.npy"
