"""Alyx REST records to table rows: the shapes the real Alyx 3.6.1 sends (see tests/real_alyx)."""

from __future__ import annotations

from one_tui.engine.remote import records as remote

E1 = "11111111-1111-4111-8111-111111111111"


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
