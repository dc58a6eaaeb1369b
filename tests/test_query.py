"""Search and list rules on modern (Alyx-format) tables: a hand-made cache and the synthetic DB."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from one_tui.engine.core.errors import ALFError
from one_tui.engine.core.spec import QC
from one_tui.engine.local import listing
from one_tui.engine.local import query as q
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.store import load_cache

S1, S2, S3, S4, S5, S6 = (f"{i}aaaaaaa-0000-4000-8000-00000000000{i}" for i in range(1, 7))

SESSIONS = [  # id, lab, subject, date, number, task_protocol, projects
    (S1, "cortexlab", "KS001", "2024-01-10", 1, "_iblrig_tasks_trainingChoiceWorld6.4.2",
     "ibl_neuropixel_brainwide_01,ibl_cortexlab"),
    (S2, "cortexlab", "KS001", "2024-01-10", 2, "_iblrig_tasks_ephysChoiceWorld6.4.2",
     "ibl_neuropixel_brainwide_01"),
    (S3, "mainenlab", "ZFM-01200", "2024-01-12", 1, "_iblrig_tasks_biasedChoiceWorld6.4.2",
     "ibl_mainenlab"),
    (S4, "mainenlab", "ZFM-01201", "2024-01-01", 1, "", ""),
    (S5, "zadorlab", "CSH_ZAD_001", "2023-12-31", 1, "_iblrig_tasks_habituationChoiceWorld6.4.2",
     "ibl_zadorlab"),
    (S6, "cortexlab", "KS002", "2024-01-10", 1, "_iblrig_tasks_trainingChoiceWorld6.4.2", ""),
]
#: ONE's order: date, subject, number, all descending.
ORDER = [S3, S6, S2, S1, S4, S5]

DATASETS = [  # eid, rel_path, qc, exists, default_revision
    (S1, "alf/_ibl_trials.table.pqt", "PASS", True, True),
    (S1, "alf/probe00/spikes.times.npy", "PASS", True, False),
    (S1, "alf/probe00/#2024-01-15#/spikes.times.npy", "WARNING", True, True),
    (S2, "alf/probe00/spikes.times.npy", "CRITICAL", True, True),
    (S2, "alf/probe00/spikes.clusters.npy", "FAIL", True, True),
    (S3, "alf/probe01/spikes.times.npy", "NOT_SET", False, True),
    (S3, "alf/_ibl_trials.table.pqt", "NOT_SET", True, True),
    (S4, "raw_video_data/_iblrig_leftCamera.raw.mp4", "PASS", True, True),
    (S4, "alf/_ibl_leftCamera.times.npy", "FAIL", True, True),
    (S5, "_ibl_experiment.description.yaml", "NOT_SET", True, True),
]


def _write_modern(folder: Path) -> None:
    ses = pd.DataFrame(SESSIONS, columns=["id", "lab", "subject", "date", "number",
                                          "task_protocol", "projects"])
    ses["date"] = pd.to_datetime(ses["date"]).dt.date
    ses["number"] = ses["number"].astype("uint16")
    dsets = pd.DataFrame(DATASETS, columns=["eid", "rel_path", "qc", "exists",
                                            "default_revision"])
    dsets["id"] = [f"d{i:07d}-0000-4000-8000-000000000000" for i in range(len(dsets))]
    dsets["file_size"] = pd.array([1000 + i for i in range(len(dsets))], dtype="UInt64")
    dsets["hash"] = None
    meta = {"origin": "alyx", "min_api_version": "2.10"}
    save_table(ses.set_index("id"), folder / "sessions.pqt", meta)
    save_table(dsets.set_index(["eid", "id"]), folder / "datasets.pqt", meta)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    _write_modern(tmp_path)
    return load_cache(tmp_path)


# --- text terms ---------------------------------------------------------------------------------


def test_sort_order_is_date_subject_number_descending(cache: Cache) -> None:
    assert q.search(cache) == ORDER
    assert list(q.search_sessions(cache).index) == ORDER


def test_text_terms_are_case_sensitive_regex_by_default(cache: Cache) -> None:
    assert q.search(cache, subject="^KS00[12]$") == [S6, S2, S1]
    assert q.search(cache, subject="ks001") == []
    assert q.search(cache, subject="(?i)ks001") == [S2, S1]
    assert q.search(cache, subject="KS00.") == [S6, S2, S1]


def test_wildcards_false_is_literal_substring(cache: Cache) -> None:
    assert q.search(cache, subject="KS00.", wildcards=False) == []
    assert q.search(cache, subject="KS00", wildcards=False) == [S6, S2, S1]
    assert q.search(cache, subject=["ZFM", "ZAD"], wildcards=False) == [S3, S4, S5]


def test_list_means_or(cache: Cache) -> None:
    assert q.search(cache, lab=["mainen", "zador"]) == [S3, S4, S5]
    assert q.search(cache, task_protocol=["habituation", "biased"]) == [S3, S5]


def test_projects_match_the_comma_joined_string(cache: Cache) -> None:
    assert q.search(cache, projects="brainwide") == [S2, S1]
    assert q.search(cache, projects="ibl_cortexlab") == [S1]


def test_terms_are_anded(cache: Cache) -> None:
    assert q.search(cache, lab="cortexlab", number=1) == [S6, S1]
    assert q.search(cache, lab="cortexlab", subject="ZFM") == []


def test_invalid_regex_is_a_value_error(cache: Cache) -> None:
    with pytest.raises(ValueError, match="Invalid regular expression"):
        q.search(cache, subject="KS(")


# --- dates and numbers --------------------------------------------------------------------------


def test_date_range_bounds_are_inclusive(cache: Cache) -> None:
    assert q.search(cache, date_range=["2024-01-01", "2024-01-10"]) == [S6, S2, S1, S4]
    assert q.search(cache, date_range=["2024-01-11"]) == [S3]  # one element: from that day
    assert q.search(cache, date_range=[None, "2023-12-31"]) == [S5]
    assert q.search(cache, date=dt.date(2024, 1, 10)) == [S6, S2, S1]
    assert q.search(cache, date="2024-01-11") == []


@pytest.mark.parametrize("bad", ["2024-13-01", "2024-02-30", "yesterday", ["2024-01-01", "x"]])
def test_malformed_dates_raise_a_clear_error(cache: Cache, bad: object) -> None:
    with pytest.raises(ValueError, match="Invalid date"):
        q.search(cache, date_range=bad)


def test_date_range_with_three_dates_is_refused(cache: Cache) -> None:
    with pytest.raises(ValueError, match="at most two"):
        q.search(cache, date_range=["2024-01-01", "2024-01-02", "2024-01-03"])


def test_number_accepts_strings_and_lists(cache: Cache) -> None:
    assert q.search(cache, number="002") == [S2]
    assert q.search(cache, number=[2, "1"], subject="KS001") == [S2, S1]
    with pytest.raises(ValueError, match="Invalid session number"):
        q.search(cache, number="two")


# --- dataset terms ------------------------------------------------------------------------------


def test_datasets_exact_name_exists_and_qc(cache: Cache) -> None:
    # S2's copy is CRITICAL (> FAIL) and S3's does not exist
    assert q.search(cache, datasets="spikes.times.npy") == [S1]
    assert q.search(cache, datasets="spikes.times.npy", dataset_qc_lte="CRITICAL") == [S2, S1]
    assert q.search(cache, datasets="spikes.times") == []  # the whole file name is needed
    assert q.search(cache, datasets="spikes.times.npy", dataset_qc_lte=QC.PASS) == [S1]


def test_datasets_all_listed_are_required(cache: Cache) -> None:
    assert q.search(cache, datasets=["spikes.times.npy", "_ibl_trials.table.pqt"]) == [S1]
    assert q.search(cache, datasets=["_ibl_trials.table.pqt"]) == [S3, S1]


def test_dataset_is_a_partial_match_on_the_relative_path(cache: Cache) -> None:
    assert q.search(cache, dataset="probe0") == [S2, S1]  # S3's probe01 file does not exist
    assert q.search(cache, dataset="alf/probe00/spikes") == [S2, S1]
    assert q.search(cache, dataset=["probe00", "trials"]) == [S1]
    assert q.search(cache, dataset="probe00", dataset_qc_lte="WARNING") == [S1]


def test_dataset_does_not_count_a_critical_dataset_as_one_2x_does(cache: Cache) -> None:
    """ONE 2.11.2 filters ``dataset`` with ``dataset_qc_lte='FAIL'`` by default: S2's only
    spikes.times is CRITICAL, so S2 is not found (20,000 sessions: 4,570 found, ONE 4,518)."""
    assert q.search(cache, dataset="spikes.times") == [S1]
    assert q.search(cache, dataset="spikes.times", dataset_qc_lte="CRITICAL") == [S2, S1]


def test_dataset_qc_lte_alone_keeps_its_2x_meaning(cache: Cache) -> None:
    assert q.search(cache, dataset_qc_lte="PASS") == [S3, S1, S4, S5]
    assert q.search(cache, dataset_qc_lte=0) == [S3, S5]
    with pytest.raises(ValueError, match="Invalid QC value"):
        q.search(cache, dataset_qc_lte="GOOD")


def test_search_without_dataset_terms_leaves_datasets_on_disk(cache: Cache) -> None:
    q.search(cache, lab="cortexlab", date_range="2024-01-10", details=True)
    assert not cache.is_loaded("datasets")


# --- term names and details ---------------------------------------------------------------------


@pytest.mark.parametrize("given, full", [
    ("lab", "laboratory"), ("Lab", "laboratory"), ("DATE", "date_range"), ("num", "number"),
    ("subj", "subject"), ("proj", "projects"), ("task", "task_protocol"),
    ("dataset", "dataset"), ("datasets", "datasets"), ("dataset_qc", "dataset_qc_lte"),
])
def test_autocomplete(given: str, full: str) -> None:
    assert q.autocomplete(given) == full


@pytest.mark.parametrize("given", ["dat", "data", "d"])
def test_ambiguous_terms(given: str) -> None:
    with pytest.raises(ValueError, match=f'Ambiguous search term "{given}"'):
        q.autocomplete(given)


def test_unknown_term_names_the_term() -> None:
    with pytest.raises(ValueError) as err:
        q.autocomplete("user")
    assert str(err.value) == 'Invalid search term "user", see `one.search_terms()`'


def test_details(cache: Cache) -> None:
    eids, details = q.search(cache, lab="cortexlab", details=True)
    assert eids == [S6, S2, S1]
    assert [d["subject"] for d in details] == ["KS002", "KS001", "KS001"]
    assert set(details[0]) == {"lab", "subject", "date", "number", "task_protocol", "projects"}
    assert details[0]["date"] == dt.date(2024, 1, 10)
    assert q.search(cache, lab="nolab", details=True) == ([], None)


# --- list_* and filter_datasets ------------------------------------------------------------------


def test_qc_default_hides_critical(cache: Cache) -> None:
    assert listing.list_datasets(cache, S2) == ["alf/probe00/spikes.clusters.npy"]
    assert len(listing.list_datasets(cache, S2, qc="CRITICAL")) == 2
    assert listing.list_datasets(cache, S3, ignore_qc_not_set=True) == []


def test_collection_none_versus_empty(cache: Cache) -> None:
    assert listing.list_datasets(cache, collection="") == ["_ibl_experiment.description.yaml"]
    assert len(listing.list_datasets(cache, collection=None)) == 8  # unique paths of all 10 rows
    probes = listing.list_datasets(cache, collection="alf/probe0*", filename="spikes.times*")
    assert sorted(probes) == ["alf/probe00/#2024-01-15#/spikes.times.npy",
                              "alf/probe00/spikes.times.npy", "alf/probe01/spikes.times.npy"]


def test_leading_star_does_not_reach_sub_collections(cache: Cache) -> None:
    assert listing.list_datasets(cache, collection="alf", filename="*.npy") == [
        "alf/_ibl_leftCamera.times.npy"]


def test_revision_is_a_pattern_in_list(cache: Cache) -> None:
    assert listing.list_datasets(cache, revision="2024-01-15") == [
        "alf/probe00/#2024-01-15#/spikes.times.npy"]
    assert listing.list_datasets(cache, revision="2024-*") == [
        "alf/probe00/#2024-01-15#/spikes.times.npy"]
    assert "#" not in "".join(listing.list_datasets(cache, revision=""))
    assert listing.list_revisions(cache) == ["", "2024-01-15"]
    assert listing.list_revisions(cache, S2) == [""]


def test_default_revisions_only(cache: Cache) -> None:
    paths = listing.list_datasets(cache, S1, default_revisions_only=True)
    assert paths == ["alf/_ibl_trials.table.pqt", "alf/probe00/#2024-01-15#/spikes.times.npy"]
    without = cache.datasets.drop(columns="default_revision")
    with pytest.raises(ALFError, match="No default revisions specified"):
        listing.filter_datasets(without, default_revisions_only=True)


def test_filename_dict_and_list(cache: Cache) -> None:
    got = listing.list_datasets(cache, filename={"object": "spikes", "attribute": "times"})
    assert sorted(got) == ["alf/probe00/#2024-01-15#/spikes.times.npy",
                           "alf/probe00/spikes.times.npy", "alf/probe01/spikes.times.npy"]
    got = listing.list_datasets(cache, filename={"namespace": "ibl", "extension": "pqt"})
    assert got == ["alf/_ibl_trials.table.pqt"]
    got = listing.list_datasets(cache, filename=["*.mp4", "*.yaml"])
    assert sorted(got) == ["_ibl_experiment.description.yaml",
                           "raw_video_data/_iblrig_leftCamera.raw.mp4"]
    assert listing.list_datasets(cache, filename=r".*\.mp4", wildcards=False) == [
        "raw_video_data/_iblrig_leftCamera.raw.mp4"]


def test_list_collections_and_details(cache: Cache) -> None:
    assert listing.list_collections(cache, S1) == ["alf", "alf/probe00"]
    by_collection = listing.list_collections(cache, S1, details=True)
    assert set(by_collection) == {"alf", "alf/probe00"}
    assert len(by_collection["alf/probe00"]) == 2


def test_list_datasets_accepts_any_session_id_form(cache: Cache) -> None:
    expected = listing.list_datasets(cache, S4)
    assert listing.list_datasets(cache, "mainenlab/Subjects/ZFM-01201/2024-01-01/001") == expected
    assert listing.list_datasets(cache, "2024-01-01_1_ZFM-01201") == expected
    assert listing.list_datasets(cache, f"https://alyx.example.org/sessions/{S4}") == expected
    frame = listing.list_datasets(cache, S4, details=True)
    assert frame.index.name == "id" and len(frame) == 2


def test_get_details_full_joins_datasets(cache: Cache) -> None:
    full = q.get_details(cache, S1, full=True)
    assert len(full) == 3 and (full["subject"] == "KS001").all()
    assert set(full["rel_path"]) == {r for e, r, *_ in DATASETS if e == S1}


def test_list_subjects(cache: Cache) -> None:
    assert q.list_subjects(cache) == ["CSH_ZAD_001", "KS001", "KS002", "ZFM-01200", "ZFM-01201"]


# --- the synthetic database: results checked against a brute-force reading of the tables -------


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Cache:
    from one_tui.demo.synth import generate

    folder = tmp_path_factory.mktemp("synth")
    generate(n_sessions=50, seed=0).write_tables(folder)
    return load_cache(folder)


def _brute_order(ses: pd.DataFrame, keep: set) -> list[str]:
    rows = ses[ses.index.isin(list(keep))]
    rows = rows.sort_values(["date", "subject", "number"], ascending=False)
    return [str(e) for e in rows.index]


def test_synth_lab_and_dates(synth: Cache) -> None:
    ses = synth.sessions
    for lab in sorted(set(ses["lab"])):
        keep = {e for e, v in ses["lab"].items() if lab in v}
        assert q.search(synth, lab=lab) == _brute_order(ses, keep)
    days = sorted(set(ses["date"]))
    lo, hi = days[len(days) // 4], days[3 * len(days) // 4]
    keep = {e for e, d in ses["date"].items() if lo <= d <= hi}
    assert q.search(synth, date_range=[str(lo), str(hi)]) == _brute_order(ses, keep)


def test_synth_dataset_terms(synth: Cache) -> None:
    ses, dsets = synth.sessions, synth.datasets
    rows = list(zip(dsets.index.get_level_values("eid"), dsets["rel_path"].astype(str),
                    dsets["exists"], dsets["qc"].astype(str), strict=True))
    ok_qc = {"NOT_SET", "PASS", "WARNING", "FAIL"}
    keep = {e for e, p, ex, qc in rows if p.rsplit("/", 1)[-1] == "spikes.times.npy"
            and ex and qc in ok_qc}
    assert keep, "the synthetic DB should have spike times"
    assert q.search(synth, datasets="spikes.times.npy") == _brute_order(ses, keep)
    keep = {e for e, p, ex, _ in rows if "spikes" in p and ex}
    assert q.search(synth, dataset="spikes") == _brute_order(ses, keep)
    keep = {e for e, _, ex, qc in rows if ex and qc in {"NOT_SET", "PASS"}}
    assert q.search(synth, dataset_qc_lte="PASS") == _brute_order(ses, keep)


def test_synth_list_datasets(synth: Cache) -> None:
    dsets = synth.datasets
    visible = dsets[dsets["qc"].astype(str) != "CRITICAL"]
    # ONE sorts an unsorted table's index at load: its unique list follows (eid, id)
    ordered = visible.sort_index()
    assert listing.list_datasets(synth) == list(dict.fromkeys(ordered["rel_path"].astype(str)))
    eid = str(dsets.index[len(dsets) // 2][0])
    mine = visible[np.asarray(visible.index.get_level_values("eid") == eid)]
    assert listing.list_datasets(synth, eid) == sorted(set(mine["rel_path"].astype(str)))
    revs = {m[1] for p in dsets["rel_path"].astype(str) if (m := re.search(r"#(.+)#", p))}
    assert set(listing.list_revisions(synth)) - {""} <= revs


# --- properties on the hand-made cache ----------------------------------------------------------

_DAYS = st.dates(min_value=dt.date(2023, 12, 25), max_value=dt.date(2024, 1, 20))


@settings(max_examples=60, deadline=None)
@given(lo=st.none() | _DAYS, hi=st.none() | _DAYS,
       numbers=st.none() | st.lists(st.integers(0, 3), min_size=1, max_size=3))
def test_dates_and_numbers_match_a_plain_reading(tmp_path_factory: pytest.TempPathFactory,
                                                 lo: dt.date | None, hi: dt.date | None,
                                                 numbers: list[int] | None) -> None:
    folder = tmp_path_factory.getbasetemp() / "property-cache"
    if not (folder / "sessions.pqt").exists():
        folder.mkdir(exist_ok=True)
        _write_modern(folder)
    cache = load_cache(folder)
    expected = [
        eid for eid in ORDER
        for _, _, _, day, num, *_ in [next(r for r in SESSIONS if r[0] == eid)]
        if (lo is None or dt.date.fromisoformat(day) >= lo)
        and (hi is None or dt.date.fromisoformat(day) <= hi)
        and (numbers is None or num in numbers)
    ]
    assert q.search(cache, date_range=[lo, hi], number=numbers) == expected
