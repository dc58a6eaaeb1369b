"""Alyx REST records to table rows: the shapes the real Alyx 3.6.1 sends (see tests/real_alyx)."""

from __future__ import annotations

from one_tui.engine import remote

BASE = "http://alyx"
E1, E2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _session(eid: str, start: str, projects: list[str]) -> dict:
    return {"id": eid, "subject": "KS001", "start_time": start, "number": 1, "lab": "cortexlab",
            "projects": projects, "url": f"{BASE}/sessions/{eid}", "task_protocol": ""}


def test_repeated_session_records_give_one_row_at_the_first_place() -> None:
    """``/sessions?projects=brainwide`` lists a session once per matching project."""
    a = _session(E1, "2024-03-05T12:26:00", ["brainwide_map_extra", "ibl_neuropixel_brainwide_01"])
    b = _session(E2, "2024-03-04T12:00:00", ["ibl_behaviour"])
    rows = remote.sessions_from_records([a, a, b, a])
    assert list(rows.index) == [E1, E2]
    assert rows.loc[E1, "projects"] == "brainwide_map_extra,ibl_neuropixel_brainwide_01"
    assert str(rows.loc[E1, "date"]) == "2024-03-05"


def test_repeated_insertion_records_give_one_row() -> None:
    """``/insertions?dataset_qc_lte=PASS`` lists an insertion once per matching dataset."""
    rec = {"id": "33333333-3333-4333-8333-333333333333", "session": E1, "model": "3B2",
           "name": "probe00", "json": {}, "serial": "1", "auto_datetime": None,
           "chronic_insertion": None, "datasets": [],
           "session_info": {k: v for k, v in _session(E1, "2024-03-05T12:26:00", []).items()
                            if k != "url"}}
    other = {**rec, "id": "44444444-4444-4444-8444-444444444444", "name": "probe01"}
    ins, ses = remote.insertions_from_records([rec, other, rec, rec])
    assert list(ins.index.get_level_values(1)) == [rec["id"], other["id"]]
    assert list(ses.index) == [E1]


def test_default_revision_strings_and_bools_both_parse() -> None:
    """Session details send "True"/"False" strings; a boolean parses the same way."""
    def dataset(did: str, flag: object) -> dict:
        return {"id": did, "name": "spikes.times.npy", "collection": "alf/probe00",
                "revision": "", "data_url": None, "file_size": 10, "hash": "h",
                "default_revision": flag, "qc": "PASS"}

    ids = [f"5555555{i}-5555-4555-8555-555555555555" for i in range(4)]
    rows = remote.datasets_from_records(
        [dataset(ids[0], "True"), dataset(ids[1], "False"), dataset(ids[2], True),
         dataset(ids[3], False)], E1)
    assert rows["default_revision"].dtype == bool
    assert rows["default_revision"].tolist() == [True, False, True, False]
