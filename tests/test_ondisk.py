"""On this disk: the files ONE-api's loaders would find, in ONE's folder layout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from one_tui.engine.local import ondisk
from one_tui.engine.local.fileformat import read_table


def test_session_path_is_ones_layout() -> None:
    session = {"lab": "cortexlab", "subject": "KS005", "date": dt.date(2019, 4, 1), "number": 3}
    assert str(ondisk.session_path(session)) == "cortexlab/Subjects/KS005/2019-04-01/003"
    assert str(ondisk.session_path({**session, "lab": None})) == "KS005/2019-04-01/003"


def test_uuid_name_variant_goes_before_the_extension() -> None:
    uid = "a976e418-c8b8-4d24-be47-d05120b18341"
    assert (ondisk.with_uuid("alf/#2020-08-31#/trials.intervals.npy", uid)
            == f"alf/#2020-08-31#/trials.intervals.{uid}.npy")
    other = "0976e418-c8b8-4d24-be47-d05120b18341"
    assert ondisk.with_uuid(f"trials.intervals.{other}.npy", uid) == f"trials.intervals.{uid}.npy"


@pytest.fixture
def cache(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.Series]:
    """Demo tables and three datasets of a session with revisions: one written under its plain
    name, one under ONE's uuid name, one not at all."""
    from one_tui.demo.synth import generate

    folder = tmp_path / "cache"
    generate(n_sessions=20, seed=0).write_tables(folder)
    # read as the engine reads ONE's tables (the index comes from the pandas metadata)
    datasets = read_table(folder / "datasets.pqt")[0].reset_index()
    datasets["rel_path"] = datasets["rel_path"].astype(str)
    sessions = read_table(folder / "sessions.pqt")[0]
    eid = datasets.loc[datasets.rel_path.str.contains("#"), "eid"].iloc[0]
    mine = datasets[datasets.eid == eid].head(3).copy()
    mine = pd.concat([mine, datasets[(datasets.eid == eid)
                                     & datasets.rel_path.str.contains("#")].head(1)])
    session = sessions.loc[eid]
    base = folder / str(ondisk.session_path(session.to_dict()))
    plain, by_uuid = mine.iloc[-1], mine.iloc[0]
    for row, rel in ((plain, plain.rel_path), (by_uuid, ondisk.with_uuid(by_uuid.rel_path,
                                                                          by_uuid.id))):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(b"x" * int(row.file_size))  # the table's size: ONE loads it
    return folder, mine, session


def test_presence_and_totals(cache) -> None:
    folder, mine, session = cache
    records = mine.to_dict("records")
    found, totals = ondisk.check_datasets(folder, session.to_dict(), records)
    assert [p.present for p in found] == [True, False, False, True]
    # the totals count default revisions only (what ONE loads unless asked for a revision)
    default = [bool(r["default_revision"]) for r in records]
    on_disk = [d and p for d, p in zip(default, [True, False, False, True], strict=True)]
    assert totals.n_datasets == sum(default) and totals.n_on_disk == sum(on_disk)
    assert totals.bytes_on_disk == sum(int(r["file_size"]) for r, here in
                                       zip(records, on_disk, strict=True) if here)
    assert totals.bytes_on_server == int(mine[mine.default_revision].file_size.sum())


@pytest.mark.oracle
def test_present_exactly_where_one_api_finds_the_file(oracle, cache, tmp_path: Path) -> None:
    folder, mine, session = cache
    got = oracle(
        "3.6.1",
        """
        from one.api import ONE
        from one.alf.exceptions import ALFObjectNotFound
        o = ONE(cache_dir=ARGS['dir'], mode='local')
        out = []
        for eid, rel in ARGS['datasets']:
            seen = []
            for uuids in (False, True):
                o.uuid_filenames = uuids
                try:
                    seen.append(bool(o.load_dataset(eid, rel, download_only=True,
                                                    check_hash=False)))
                except ALFObjectNotFound:
                    seen.append(False)
            out.append(any(seen))
        emit(out)
        """,
        home=tmp_path,
        args={"dir": str(folder), "datasets": [[r.eid, r.rel_path] for r in mine.itertuples()]},
    )
    found, _ = ondisk.check_datasets(folder, session.to_dict(), mine.to_dict("records"))
    assert [p.present for p in found] == got == [True, False, False, True]
