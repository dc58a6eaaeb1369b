"""Session ID conversions: every form ONE's to_eid accepts, paths both ways, ONE's errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from uuid import UUID

import pandas as pd
import pytest

from one_tui.engine.core.errors import ALFMultipleObjectsFound
from one_tui.engine.core.spec import QC, parse_date
from one_tui.engine.local import converters as c
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.store import load_cache

EID = "aaf101c3-2581-450a-8abd-ddb8f557a5ad"  # KS005, 2019-04-04, number 4, cortexlab


@pytest.fixture
def cache(fixture_cache: Path) -> Cache:
    return load_cache(fixture_cache)


@pytest.mark.parametrize("given", [
    EID, EID.upper(), UUID(EID), f"https://alyx.internationalbrainlab.org/sessions/{EID}",
    f"http://localhost:8000/sessions/{EID}/",
])
def test_uuid_forms_need_no_table(given: object) -> None:
    assert c.to_eid(given) == EID


def test_ref_dict_and_paths_are_looked_up(cache: Cache) -> None:
    assert c.to_eid("2019-04-04_4_KS005", cache) == EID
    assert c.to_eid({"subject": "KS005", "number": 4, "lab": "cortexlab",
                     "date": "2019-04-04"}, cache) == EID
    assert c.to_eid({"subject": "KS005", "number": 4, "lab": "cortexlab",
                     "start_time": "2019-04-04T10:11:12"}, cache) == EID
    assert c.to_eid("cortexlab/Subjects/KS005/2019-04-04/004", cache) == EID
    assert c.to_eid("KS005/2019-04-04/004", cache) == EID
    assert c.to_eid(Path("/data/ONE/cortexlab/Subjects/KS005/2019-04-04/004"), cache) == EID
    assert c.to_eid(["KS005/2019-04-04/004", EID], cache) == [EID, EID]


def test_unknown_session_gives_none(cache: Cache) -> None:
    assert c.to_eid("FMR019/2021-03-18/002", cache) is None
    assert c.to_eid("2021-03-18_2_FMR019", cache) is None


@pytest.mark.parametrize("bad", [
    "00000000-0000-0000-0000-000000000000",  # version 0
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8",  # version 1
    "not-a-uuid", "x" * 40,
])
def test_invalid_experiment_id(bad: str) -> None:
    with pytest.raises(ValueError, match="^Invalid experiment ID$"):
        c.to_eid(bad)


@pytest.mark.parametrize("bad", [42, 3.5, {"subject": "KS005"}, object()])
def test_unrecognized_experiment_id(bad: object) -> None:
    with pytest.raises(ValueError, match="^Unrecognized experiment ID$"):
        c.to_eid(bad)


def test_eid2path_and_back(cache: Cache, tmp_path: Path) -> None:
    path = c.eid2path(cache, EID, tmp_path)
    assert path == tmp_path / "cortexlab" / "Subjects" / "KS005" / "2019-04-04" / "004"
    assert c.path2eid(cache, path) == EID
    assert c.eid2path(cache, "aaf101c3-2581-450a-8abd-ddb8f557a5ae", tmp_path) is None
    assert c.eid2path(cache, [EID], tmp_path) == [path]


def test_eid2path_without_lab(cache: Cache, tmp_path: Path) -> None:
    ses = cache.sessions.loc[[EID]].copy()
    ses["lab"] = ""
    cache.merge(sessions=ses)
    assert c.eid2path(cache, EID, tmp_path) == tmp_path / "KS005" / "2019-04-04" / "004"


def test_path2eid_several_sessions_is_an_error(cache: Cache) -> None:
    twin = cache.sessions.loc[[EID]].copy()
    twin.index = pd.Index(["0b305d2f-0000-4000-8000-000000000001"], name="id")
    twin["lab"] = "mainenlab"
    cache.merge(sessions=twin)
    with pytest.raises(ALFMultipleObjectsFound):
        c.path2eid(cache, "KS005/2019-04-04/004")
    assert c.path2eid(cache, "cortexlab/Subjects/KS005/2019-04-04/004") == EID


def test_parse_session_path() -> None:
    # a file in a session: the session part, as ONE's get_session_path finds it
    assert c.parse_session_path("/root/lab1/Subjects/SW-01/2020-01-31/2/alf/x.npy") == {
        "lab": "lab1", "subject": "SW-01", "date": dt.date(2020, 1, 31), "number": 2,
        "number_text": "2"}
    assert c.parse_session_path("/root/SW-01/2020-01-31/alf/x.npy") is None
    assert c.parse_session_path("/root/lab1/Subjects/SW-01/2020-01-31/002") == {
        "lab": "lab1", "subject": "SW-01", "date": dt.date(2020, 1, 31), "number": 2,
        "number_text": "002"}
    assert c.parse_session_path(PurePosixPath("SW-01/2020-01-31/1"))["lab"] is None
    assert c.parse_session_path("SW-01/2020-13-31/001") is None
    assert c.parse_session_path(None) is None


def test_refs() -> None:
    assert c.is_exp_ref("2019-04-04_4_KS005")
    assert not c.is_exp_ref("2019-04-04-4-KS005")
    assert c.is_uuid(EID) and not c.is_uuid("00000000-0000-0000-0000-000000000000")
    assert c.is_uuid_string(EID) and not c.is_uuid_string(EID.replace("-", ""))


def test_eid2ref(cache: Cache) -> None:
    assert c.eid2ref(cache, EID) == "2019-04-04_4_KS005"


# --- spec helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    (QC.PASS, QC.PASS), ("pass", QC.PASS), ("CRITICAL", QC.CRITICAL), (40, QC.FAIL),
    ("30", QC.WARNING), (0, QC.NOT_SET),
])
def test_qc_validate(given: object, expected: QC) -> None:
    assert QC.validate(given) is expected


@pytest.mark.parametrize("bad", [35, "GOOD", None, True, 1.5])
def test_qc_validate_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="Invalid QC value"):
        QC.validate(bad)


def test_parse_date() -> None:
    assert parse_date("2024-02-29") == dt.date(2024, 2, 29)
    assert parse_date(dt.datetime(2024, 1, 2, 3, 4)) == dt.date(2024, 1, 2)
    assert parse_date("2024-01-02T10:00:00") == dt.date(2024, 1, 2)
    for bad in ("2024-13-01", "2023-02-29", "01/02/2024", ""):
        with pytest.raises(ValueError, match=f'Invalid date "{bad}"'):
            parse_date(bad)
