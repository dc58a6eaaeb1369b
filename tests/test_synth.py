"""The synthetic database: deterministic, IBL-like, in ONE's table format."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from one_tui.demo import records, synth
from one_tui.demo.catalogue import LABS
from one_tui.engine.core.spec import QC_CATEGORIES
from one_tui.engine.local import cache as tables


@pytest.fixture(scope="module")
def db() -> synth.SyntheticDB:
    return synth.generate(120, seed=3)


def test_same_seed_same_tables_including_ids() -> None:
    a, b = synth.generate(60, seed=1), synth.generate(60, seed=1)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    pd.testing.assert_frame_equal(a.datasets, b.datasets)
    pd.testing.assert_frame_equal(a.insertions, b.insertions)
    pd.testing.assert_frame_equal(a.session_extra, b.session_extra)


def test_other_seed_other_tables() -> None:
    a, b = synth.generate(60, seed=1), synth.generate(60, seed=2)
    assert not set(a.sessions.index) & set(b.sessions.index)
    assert not a.sessions["subject"].equals(b.sessions["subject"])


def test_ids_are_canonical_uuid4_strings(db: synth.SyntheticDB) -> None:
    for value in [*db.sessions.index[:5], *db.datasets.index.get_level_values(1)[:5],
                  *db.insertions.index.get_level_values(1)[:5]]:
        u = uuid.UUID(value)
        assert str(u) == value and u.version == 4
    assert db.sessions.index.is_unique
    assert db.datasets.index.get_level_values(1).is_unique


def test_sizes_scale_with_sessions() -> None:
    small, big = synth.generate(50), synth.generate(400)
    assert len(small.sessions) == 50 and len(big.sessions) == 400
    assert 50 <= len(big.datasets) / 400 <= 100  # ~75 datasets a session on average
    assert len(big.subjects) > len(small.subjects)


def test_sessions_look_like_ibl(db: synth.SyntheticDB) -> None:
    s = db.sessions
    assert list(s.columns) == ["lab", "subject", "date", "number", "task_protocol", "projects"]
    assert s["number"].dtype == np.uint16
    assert s["lab"].isin(list(LABS)).all()
    dates = pd.to_datetime(s["date"])
    assert dates.min().year >= 2018 and dates.max().year <= 2025
    assert (s["number"] == 1).mean() > 0.8 and s["number"].max() >= 2
    assert (s["task_protocol"] == "").any()
    assert s["task_protocol"].str.contains("ephysChoiceWorld").any()
    assert (s["projects"] == "").any() and s["projects"].str.contains(",").any()
    assert not s.duplicated(["subject", "date", "number"]).any()
    # newest first, as Alyx lists sessions
    assert db.session_extra["start_time"].is_monotonic_decreasing


def test_session_extra_fields(db: synth.SyntheticDB) -> None:
    ex = db.session_extra
    assert set(ex["qc"].cat.categories) == set(QC_CATEGORIES)
    assert (ex["narrative"] == "").any() and (ex["narrative"] != "").any()
    has = ex["n_trials"].notna()
    assert (ex.loc[has, "n_correct_trials"] <= ex.loc[has, "n_trials"]).all()
    assert ex.loc[~has, "performance"].isna().all()
    assert any("Histology" in p for p in ex["procedures"])
    assert (ex["end_time"] > ex["start_time"]).all()
    assert any(a for a in ex["atlas_acronyms"])


def test_datasets_revisions_have_one_default(db: synth.SyntheticDB) -> None:
    d = db.datasets
    assert d["qc"].cat.ordered and list(d["qc"].cat.categories) == QC_CATEGORIES
    assert (d["qc"] == "CRITICAL").any() and (~d["exists"]).any()
    assert str(d["file_size"].dtype) == "UInt64"
    revised = d["rel_path"].str.contains("#")
    assert revised.any()
    parts = d["rel_path"].str.replace(r"#[^#]+#/", "", regex=True)
    key = pd.DataFrame({"eid": d.index.get_level_values(0), "path": parts.to_numpy(),
                        "default": d["default_revision"].to_numpy()})
    assert (key.groupby(["eid", "path"])["default"].sum() == 1).all()
    # the revised copy is the default one
    assert d.loc[revised, "default_revision"].mean() > 0.5


def test_insertions_only_for_ephys_with_probe_datasets(db: synth.SyntheticDB) -> None:
    eids = db.insertions.index.get_level_values(0)
    assert db.sessions.loc[eids, "task_protocol"].str.contains("ephys").all()
    assert set(db.insertions["name"]) <= {"probe00", "probe01"}
    assert set(db.insertions["model"]) <= {"3A", "3B2", "NP2.1"}
    (eid, pid), row = next(iter(db.insertions.iterrows()))
    paths = db.datasets.loc[eid].loc[row["datasets"], "rel_path"]
    assert len(paths) > 0 and paths.str.contains(row["name"]).all()


def test_written_tables_load_in_one_format(db: synth.SyntheticDB, tmp_path) -> None:
    import datetime as dt

    when = dt.datetime(2024, 5, 20, 10, 40)
    db.write_tables(tmp_path, date_created=when)
    cache = tables.load_cache(tmp_path)
    assert len(cache.sessions) == len(db.sessions)
    assert len(cache.datasets) == len(db.datasets)
    assert cache.meta["raw"]["sessions"]["date_created"] == "2024-05-20 10:40"
    info = json.loads((tmp_path / "cache_info.json").read_text())
    assert info["date_created"] == "2024-05-20 10:40" and info["min_api_version"] == "2.10"
    assert info["tables"]["datasets"]["nrecs"] == len(db.datasets)
    db.write_tables(tmp_path / "alyx", existing_only=True)
    alyx = tables.load_cache(tmp_path / "alyx")
    assert len(alyx.datasets) == int(db.datasets["exists"].sum()) and alyx.datasets["exists"].all()


def test_cache_zip_holds_tables_with_one_metadata(db: synth.SyntheticDB) -> None:
    zf = zipfile.ZipFile(io.BytesIO(db.cache_zip_bytes()))
    assert zf.namelist() == ["sessions.pqt", "datasets.pqt", "QC.json", "cache_info.json"]
    schema = pq.read_schema(io.BytesIO(zf.read("sessions.pqt")))
    meta = json.loads(schema.metadata[b"one_metadata"])
    assert meta["origin"] == db.origin and "date_created" in meta


def test_session_detail_record_quirks(db: synth.SyntheticDB) -> None:
    eid = db.insertions.index.get_level_values(0)[0]
    rec = records.session_detail(db, eid, "http://h")
    related = rec["data_dataset_session_related"]
    assert {r["default_revision"] for r in related} <= {"True", "False"}
    first = related[0]
    assert first["data_url"].endswith(f".{first['id']}.{first['name'].rsplit('.', 1)[1]}")
    assert {r["qc"] for r in related} <= set(QC_CATEGORIES)
    assert len(rec["probe_insertion"]) >= 1
    pid = rec["probe_insertion"][0]["id"]
    detail = records.insertion(db, eid, pid, "http://h", detail=True)
    assert all(isinstance(d["qc"], int) for d in detail["datasets"])
