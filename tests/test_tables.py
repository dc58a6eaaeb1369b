"""Cache tables: ONE's file format, legacy patches, lazy datasets, skipped files, merge and save."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from one_tui.engine.core.errors import CacheDirError
from one_tui.engine.local import layout, listing, query
from one_tui.engine.local import lock as lock_module
from one_tui.engine.local.fileformat import read_table
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.lock import LOCK_NAME, FileLock, LockTimeout, ReadOnlyCacheError
from one_tui.engine.local.store import load_cache, save_cache

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --- legacy fixture -----------------------------------------------------------------------------


def test_legacy_tables_are_patched(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    ses, dsets = cache.sessions, cache.datasets
    assert ses.index.name == "id" and len(ses) == 26
    assert ses.index.str.match(UUID_RE).all()
    assert "projects" in ses.columns and "project" not in ses.columns
    assert list(dsets.index.names) == ["eid", "id"] and len(dsets) == 693
    assert dsets.index.get_level_values("eid").str.match(UUID_RE).all()
    assert "session_path" not in dsets.columns
    assert (dsets["qc"] == "NOT_SET").all() and dsets["qc"].cat.ordered
    assert dsets["file_size"].dtype == "UInt64"
    assert dsets["file_size"].isna().sum() == 301  # the fixture's nulls survive as <NA>
    # every dataset's eid is a session of the table (the int pairs were decoded consistently)
    assert set(dsets.index.get_level_values("eid")) <= set(ses.index)
    assert ses.index.is_monotonic_increasing and dsets.index.is_monotonic_increasing


def test_meta_follows_one_2x(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    meta = cache.meta
    assert meta["created_time"] == datetime(2021, 5, 13, 20, 38)
    assert meta["expired"] is True  # created in 2021, 24 h expiry
    assert set(meta["raw"]) == {"sessions", "datasets"}
    assert meta["raw"]["sessions"]["origin"] == "ibl_test"
    assert isinstance(meta["loaded_time"], datetime)
    assert meta["modified_time"] is None and meta["saved_time"] is None
    long = load_cache(fixture_cache, cache_expiry=timedelta(days=365 * 100))
    assert long.meta["expired"] is False


def test_the_cache_times_its_load_and_expiry_by_its_clock(fixture_cache: Path) -> None:
    """One clock: ``loaded_time`` and ``expired`` come from the clock the Cache is given."""
    created = datetime(2021, 5, 13, 20, 38)
    now = [created + timedelta(hours=1)]
    cache = load_cache(fixture_cache, clock=lambda: now[0])
    assert cache.meta["loaded_time"] == now[0] and cache.freshness.loaded == now[0]
    assert cache.meta["expired"] is False and cache.is_expired() is False
    now[0] = created + timedelta(hours=25)
    assert cache.is_expired() is True
    assert cache.freshness.expires_at == created + timedelta(hours=24)


def test_only_the_published_tables_date_the_cache(tmp_path: Path) -> None:
    """ONE issue #139: created is the oldest of sessions/datasets when there is one, else the
    oldest table present; an old insertions table beside fresh ones does not age them."""
    fresh, old = datetime(2024, 5, 1, 12, 0), datetime(2024, 4, 1, 12, 0)
    cache = load_cache(tmp_path)
    cache.merge(sessions=_new_session(EID_NEW))
    cache.meta["raw"]["sessions"]["date_created"] = fresh.strftime("%Y-%m-%d %H:%M")
    cache.meta["raw"]["insertions"] = {"date_created": old.strftime("%Y-%m-%d %H:%M")}
    assert cache.freshness.created == fresh
    del cache.meta["raw"]["sessions"]
    assert cache.freshness.created == old


def test_datasets_are_loaded_only_when_needed(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    assert not cache.is_loaded("datasets")
    assert cache.row_counts["datasets"] == 693  # known from the footer without reading rows
    query.search(cache, lab="cortexlab", date_range=["2019-01-01", None], number=1)
    query.list_subjects(cache)
    assert not cache.is_loaded("datasets")
    query.search(cache, datasets="spikes.times.npy")
    assert cache.is_loaded("datasets")


# --- round trip in ONE's format -----------------------------------------------------------------


def test_saved_tables_have_ones_format(fixture_cache: Path, tmp_path: Path) -> None:
    cache = load_cache(fixture_cache)
    out = tmp_path / "out"
    out.mkdir()
    save_table(cache.sessions, out / "sessions.pqt", {"origin": "test"})
    save_table(cache.datasets, out / "datasets.pqt", {"origin": "test"})

    schema = pq.read_schema(out / "datasets.pqt")
    meta = json.loads(schema.metadata[b"one_metadata"])
    assert meta["origin"] == "test" and meta["min_api_version"] == "2.10"
    datetime.strptime(meta["date_created"], "%Y-%m-%d %H:%M")
    assert schema.field("eid").type == pa.string() and schema.field("id").type == pa.string()
    assert pa.types.is_dictionary(schema.field("qc").type) and schema.field("qc").type.ordered
    assert schema.field("file_size").type == pa.uint64()
    assert schema.field("rel_path").type == pa.string()
    ses_schema = pq.read_schema(out / "sessions.pqt")
    assert ses_schema.field("date").type == pa.date32()
    assert ses_schema.field("id").type == pa.string()

    # as Alyx writes them: the index levels are the last columns, and the pandas metadata makes
    # plain pandas (ONE's parquet.load) give them back as the index, with ONE's dtypes
    assert schema.names[-2:] == ["eid", "id"] and ses_schema.names[-1] == "id"
    plain = pd.read_parquet(out / "datasets.pqt")
    assert list(plain.index.names) == ["eid", "id"] and "rel_path" in plain.columns
    assert list(plain["qc"].cat.categories) == ["NOT_SET", "PASS", "WARNING", "FAIL", "CRITICAL"]
    assert plain["file_size"].dtype == "UInt64"
    assert sorted(plain.index.unique("eid")) == sorted(cache.datasets.index.levels[0])

    again = load_cache(out)
    pd.testing.assert_frame_equal(again.sessions, cache.sessions)
    # rel_path is categorical in memory; its category order is not part of the data
    pd.testing.assert_frame_equal(again.datasets, cache.datasets, check_categorical=False)


def test_save_table_is_atomic_and_leaves_no_temporary(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    target = fixture_cache / "sessions.pqt"
    before = target.read_bytes()

    bad = cache.sessions.copy()
    bad["broken"] = [object()] * len(bad)  # cannot be converted to Arrow
    with pytest.raises((pa.ArrowException, TypeError, ValueError)):
        save_table(bad, target, {"origin": "x"})
    assert target.read_bytes() == before
    assert [p.name for p in fixture_cache.iterdir() if ".tmp-" in p.name] == []


# --- skipped files ------------------------------------------------------------------------------


def test_stray_and_corrupt_tables_are_skipped_not_deleted(
        fixture_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    pd.DataFrame({"a": [1, 2]}).to_parquet(fixture_cache / "stray.pqt")
    good = (fixture_cache / "sessions.pqt").read_bytes()
    (fixture_cache / "insertions.pqt").write_bytes(good[: len(good) // 2])  # half-written
    with caplog.at_level("WARNING", logger="one_tui.engine"):
        cache = load_cache(fixture_cache)
    assert len(cache.sessions) == 26 and len(cache.datasets) == 693
    assert len(cache.warnings) == 2
    assert any("stray.pqt does not appear to be a valid table" in w for w in cache.warnings)
    assert any(w.startswith("insertions.pqt") for w in cache.warnings)
    assert all("\n" not in w for w in cache.warnings)
    assert len(caplog.records) == 2
    assert (fixture_cache / "stray.pqt").exists() and (fixture_cache / "insertions.pqt").exists()
    assert set(cache.meta["raw"]) == {"sessions", "datasets"}
    assert not cache.has_insertions


def test_corrupt_datasets_table_gives_empty_datasets_and_a_warning(fixture_cache: Path) -> None:
    data = (fixture_cache / "datasets.pqt").read_bytes()
    (fixture_cache / "datasets.pqt").write_bytes(data[:-200])
    cache = load_cache(fixture_cache)
    assert len(cache.sessions) == 26
    assert len(cache.datasets) == 0 and list(cache.datasets.index.names) == ["eid", "id"]
    assert cache.warnings and "datasets.pqt" in cache.warnings[0]
    assert query.search(cache, datasets="spikes.times.npy") == []


def test_missing_folder_gives_an_empty_expired_cache(tmp_path: Path) -> None:
    cache = load_cache(tmp_path / "nowhere")
    assert len(cache.sessions) == 0 and len(cache.datasets) == 0
    assert cache.meta["expired"] is True and cache.meta["created_time"] is None
    assert cache.meta["loaded_time"] is None
    assert query.search(cache, lab="x") == []
    assert query.search(cache, lab="x", details=True) == ([], None)
    assert not (tmp_path / "nowhere").exists()  # the caller decides to create it


@pytest.mark.skipif(IS_ROOT, reason="root can read any folder")
def test_unreadable_folder_raises_cache_dir_error(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    try:
        with pytest.raises(CacheDirError, match="Cache directory not accessible"):
            load_cache(folder)
    finally:
        folder.chmod(0o755)


def test_read_table_rejects_a_table_without_metadata(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "x.pqt")
    with pytest.raises(ValueError, match="does not appear to be a valid table"):
        read_table(tmp_path / "x.pqt")


# --- merge and save -----------------------------------------------------------------------------


def _new_session(eid: str, subject: str = "NEW01") -> pd.DataFrame:
    return pd.DataFrame({"id": [eid], "lab": ["newlab"], "subject": [subject],
                         "date": [datetime(2024, 1, 2).date()], "number": [1],
                         "task_protocol": [""], "projects": [""]}).set_index("id")


EID_NEW = "5b2b9a1c-4e0c-4f35-9d73-5d1e3b1f0a10"
EID_OTHER = "9c3e0b2d-8a71-4f42-b0c5-2a5d9e4c1b77"


def test_merge_adds_and_updates_rows(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    first = cache.sessions.index[0]
    update = cache.sessions.loc[[first]].copy()
    update["task_protocol"] = "changed"
    cache.merge(origin="https://alyx.example.org",
                 sessions=pd.concat([update, _new_session(EID_NEW)]))
    assert len(cache.sessions) == 27
    assert cache.sessions.loc[first, "task_protocol"] == "changed"
    assert cache.sessions.loc[EID_NEW, "subject"] == "NEW01"
    assert cache.sessions.index.is_monotonic_increasing
    assert isinstance(cache.meta["modified_time"], datetime)
    assert "https://alyx.example.org" in cache.meta["raw"]["sessions"]["origin"]
    assert query.search(cache, subject="NEW01") == [EID_NEW]


def test_merge_datasets_fills_missing_columns(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    new = pd.DataFrame({"eid": [EID_NEW], "id": [EID_OTHER], "rel_path": ["alf/new.thing.npy"],
                        "exists": [True], "qc": ["PASS"], "extra_col": [1]})
    cache.merge(datasets=new)
    row = cache.datasets.loc[(EID_NEW, EID_OTHER)]
    assert row["qc"] == "PASS" and pd.isna(row["file_size"])
    assert "extra_col" not in cache.datasets.columns
    assert "alf/new.thing.npy" in listing.list_datasets(cache)


def test_save_cache_merges_with_disk_and_keeps_earliest_date(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    assert save_cache(cache) is False  # nothing modified
    cache.merge(sessions=_new_session(EID_NEW))
    # meanwhile another process saved a session of its own
    other = load_cache(fixture_cache)
    other.merge(sessions=_new_session(EID_OTHER, "OTHER"))
    assert save_cache(other) is True
    assert save_cache(cache) is True
    assert not (fixture_cache / LOCK_NAME).exists()

    disk = load_cache(fixture_cache)
    assert {EID_NEW, EID_OTHER} <= set(disk.sessions.index) and len(disk.sessions) == 28
    raw = disk.meta["raw"]["sessions"]
    assert raw["date_created"] == "2021-05-13 20:38"
    assert "date_modified" in raw
    assert not disk.is_loaded("datasets") and len(disk.datasets) == 693  # untouched
    assert save_cache(cache) is False  # already saved


def test_rows_merged_from_disk_survive_the_next_save(fixture_cache: Path) -> None:
    """A save merges what another process wrote; the save after it (the file unchanged since,
    so no new merge) must still hold those rows (was: the second save wrote memory only)."""
    cache = load_cache(fixture_cache)
    other = load_cache(fixture_cache)
    other.merge(sessions=_new_session(EID_OTHER, "OTHER"))
    assert save_cache(other) is True
    cache.merge(sessions=_new_session(EID_NEW))
    assert save_cache(cache) is True
    cache.merge(sessions=_new_session("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "THIRD"))
    assert save_cache(cache) is True
    disk = load_cache(fixture_cache)
    assert {EID_NEW, EID_OTHER} <= set(disk.sessions.index) and len(disk.sessions) == 29
    assert EID_OTHER in cache.sessions.index  # what the user browses holds them too


@pytest.mark.skipif(IS_ROOT, reason="root can write a read-only folder")
def test_save_cache_on_a_read_only_folder_is_a_clear_error(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    cache.merge(sessions=_new_session(EID_NEW))
    fixture_cache.chmod(0o555)
    try:
        with pytest.raises(ReadOnlyCacheError, match="read-only"):
            save_cache(cache)
        # reading still works
        assert len(load_cache(fixture_cache).sessions) == 26
    finally:
        fixture_cache.chmod(0o755)


# --- the lock -----------------------------------------------------------------------------------


def test_lock_excludes_a_second_holder_and_is_released(tmp_path: Path) -> None:
    with FileLock(tmp_path) as lock:
        info = json.loads((tmp_path / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid()
        with pytest.raises(LockTimeout, match="Timed out"):
            FileLock(tmp_path, timeout=0.2).acquire()
        assert lock.held
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_process_is_broken(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"pid": dead.pid, "hostname": socket.gethostname()}))
    old = time.time() - 60
    os.utime(path, (old, old))
    t0 = time.monotonic()
    with FileLock(tmp_path, timeout=5):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert time.monotonic() - t0 < 2


def test_fresh_lock_of_a_live_process_is_respected(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"pid": os.getpid()}))
    with pytest.raises(LockTimeout):
        FileLock(tmp_path, timeout=0.2).acquire()
    assert path.exists()


@pytest.mark.skipif(IS_ROOT, reason="root can write a read-only folder")
def test_lock_on_read_only_folder_fails_only_when_acquired(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        lock = FileLock(tmp_path)  # constructing writes nothing
        with pytest.raises(ReadOnlyCacheError, match="read-only"):
            lock.acquire()
    finally:
        tmp_path.chmod(0o755)


def test_read_only_file_system_is_a_clear_error(
        fixture_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only mount (EROFS) fails even for root; loading still works, saving says why."""
    cache = load_cache(fixture_cache)
    cache.merge(sessions=_new_session(EID_NEW))
    real_open = os.open

    def erofs_open(path, flags, *args):  # noqa: ANN001, ANN202
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    real_write_text = Path.write_text

    def erofs_write_text(self: Path, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if self.name.startswith(lock_module.LOCK_NAMES):  # a lock's content, before its link
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(lock_module.os, "open", erofs_open)
    monkeypatch.setattr(Path, "write_text", erofs_write_text)
    with pytest.raises(ReadOnlyCacheError, match=f"read-only: {fixture_cache}"):
        save_cache(cache)
    assert len(load_cache(fixture_cache).sessions) == 26


def test_dates_given_as_timestamps_or_missing_are_saved_as_date32(tmp_path: Path) -> None:
    ses = pd.DataFrame({"id": ["5b2b9a1c-4e0c-4f35-9d73-5d1e3b1f0a10", EID_OTHER],
                        "lab": ["a", "b"], "subject": ["s", "t"],
                        "date": [pd.Timestamp("2024-01-02 13:45"), None], "number": [1, 2],
                        "task_protocol": ["", ""], "projects": ["", ""]}).set_index("id")
    save_table(ses, tmp_path / "sessions.pqt", {"origin": "test"})
    assert pq.read_schema(tmp_path / "sessions.pqt").field("date").type == pa.date32()
    back, _ = read_table(tmp_path / "sessions.pqt")
    assert back["date"].iloc[0] == datetime(2024, 1, 2).date()
    assert pd.isna(back["date"].iloc[1])


def test_large_table_merge_matches_ones_merge(fixture_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Big tables are merged in place + appended; the rows must equal ONE's sorted merge."""
    from one_tui.engine.local import merge
    base = load_cache(fixture_cache).datasets
    changed = base.iloc[[3, 10, 50]].copy()
    changed["exists"] = False
    changed["qc"] = ["PASS", "FAIL", "CRITICAL"]
    changed["file_size"] = pd.array([None, 7, None], dtype="UInt64")  # NA keeps the old value
    added = pd.DataFrame({"eid": [EID_NEW, base.index[0][0]],
                          "id": [EID_OTHER, "1d7c9a2b-3f4e-4a5b-8c6d-7e8f9a0b1c2d"],
                          "rel_path": ["alf/brand.new.npy", "alf/_ibl_trials.table.pqt"],
                          "exists": [True, True], "qc": ["WARNING", "NOT_SET"]})
    new = pd.concat([changed.reset_index(), added])

    expected = merge.merge_frames(base, new, "datasets")  # small table: ONE's sorted merge
    monkeypatch.setattr(merge, "LARGE_TABLE", 10)  # merge_frames reads it there
    fast = merge.merge_frames(base, new, "datasets")
    assert len(fast) == len(base) + 2
    as_text = {"rel_path": str}
    pd.testing.assert_frame_equal(fast.sort_index().astype(as_text), expected.astype(as_text),
                                  check_index_type=False)
    row = fast.loc[changed.index[1]]
    assert row["qc"] == "FAIL" and not row["exists"] and row["file_size"] == 7
    old_size = base.loc[changed.index[0], "file_size"]
    new_size = fast.loc[changed.index[0], "file_size"]
    assert (pd.isna(old_size) and pd.isna(new_size)) or old_size == new_size
    # the engine's queries see the appended rows
    cache = load_cache(fixture_cache)
    cache.datasets = fast
    assert EID_NEW in q_eids(cache, "brand.new.npy")


def q_eids(cache, name: str) -> list[str]:  # noqa: ANN001
    return [str(e) for e in listing.list_datasets(cache, filename=f"*{name}", details=True)
            .index.get_level_values("eid")]


def test_lock_waits_for_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from one_tui.engine.local.lock import FileLock\n"
         f"with FileLock({str(tmp_path)!r}):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(0.8)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with FileLock(tmp_path, timeout=10):
            waited = time.monotonic() - t0
        assert 0.2 < waited < 8  # waited for the other process, did not break its live lock
    finally:
        holder.wait(timeout=10)
    assert holder.returncode == 0


def test_a_one_tui_killed_while_writing_its_lock_leaves_no_empty_lock(tmp_path: Path) -> None:
    """Killed while its lock's content was written: the lock was created empty first, and an
    empty .ONE.lock looks like ONE's, so every later save waited 10 s and gave up (seen in
    the SIGKILL test). Now the content is linked in whole or not at all."""
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, signal, sys\n"
         "from one_tui.engine.local import lock\n"
         "def die(*args, **kwargs):\n"
         "    os.kill(os.getpid(), signal.SIGKILL)\n"
         "lock.json.dump = lock.json.dumps = die\n"
         f"lock.FileLock({str(tmp_path)!r}).acquire()\n"],
        capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / LOCK_NAME).exists()
    t0 = time.monotonic()
    with FileLock(tmp_path, timeout=3):
        assert time.monotonic() - t0 < 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temp lock file left either


def test_merged_rest_dates_become_dates(fixture_cache: Path) -> None:
    cache = load_cache(fixture_cache)
    rec = _new_session(EID_NEW).reset_index()
    rec["date"] = "2024-03-05"  # as Alyx's REST answers give it
    cache.merge(sessions=rec)
    assert cache.sessions.loc[EID_NEW, "date"] == datetime(2024, 3, 5).date()
    assert query.search(cache, date="2024-03-05") == [EID_NEW]


def test_large_merge_of_chunked_arrow_columns_matches_ones_merge(
        fixture_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables read in row groups hold Arrow strings in chunks; updates that land in several
    chunks, rows merged again unchanged and new rows must all give ONE's merge."""
    from one_tui.engine.local import filewrite as tablewrite
    from one_tui.engine.local import merge
    from one_tui.engine.local.fileformat import read_table
    from one_tui.engine.local.filewrite import save_table
    monkeypatch.setattr(tablewrite, "ROW_GROUP_SIZE", 100)  # save_table reads it there
    table = load_cache(fixture_cache).datasets
    table = table[~table.index.duplicated()].copy()  # ONE's fixture lists one dataset twice
    table["hash"] = pd.array([f"md5-{i}" for i in range(len(table))], dtype="str")
    save_table(table, tmp_path / "datasets.pqt", {"date_created": "2024-01-01 00:00"})
    base = read_table(tmp_path / "datasets.pqt")[0]
    assert merge._arrow_chunks(base["hash"]).num_chunks > 3
    changed = base.iloc[[5, 150, 151, 640]].copy()
    changed["hash"] = ["h5", None, "h151", "h640"]  # None: keep the old hash
    same = base.iloc[[7, 300]]  # an answer merged again
    added = pd.DataFrame({"eid": [EID_NEW], "id": [EID_OTHER], "rel_path": ["alf/new.npy"],
                          "hash": ["hnew"], "exists": [True], "qc": ["PASS"]})
    new = pd.concat([changed.reset_index(), same.reset_index(), added])

    expected = merge.merge_frames(base, new, "datasets")
    monkeypatch.setattr(merge, "LARGE_TABLE", 10)  # merge_frames reads it there
    fast = merge.merge_frames(base, new, "datasets")
    as_text = {"rel_path": str}
    pd.testing.assert_frame_equal(fast.sort_index().astype(as_text), expected.astype(as_text),
                                  check_index_type=False)
    hashes = fast["hash"]
    assert list(hashes.loc[changed.index[[0, 2, 3]]]) == ["h5", "h151", "h640"]
    assert hashes.loc[changed.index[1]] == base["hash"].loc[changed.index[1]] == "md5-150"
    assert hashes.loc[(EID_NEW, EID_OTHER)] == "hnew" and fast["hash"].dtype == base["hash"].dtype
    untouched = base.index[[0, 200, 500]]
    assert list(hashes.loc[untouched]) == list(base["hash"].loc[untouched])
    assert base.loc[changed.index[0], "hash"] != "h5"  # the table merged into is not modified


# --- rule: a table one-tui could not read is never written over ---------------------------------


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(3000))


def _no_one_metadata(path: Path) -> None:
    pd.read_parquet(path).to_parquet(path)  # a valid parquet, as plain pandas writes it


def _unknown_columns(path: Path) -> None:
    table = pa.table({"colour": ["red", "blue"], "size": [1, 2]})
    meta = {b"one_metadata": json.dumps({"date_created": "2021-05-13 20:38"}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def _symlink_loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)  # points at itself: ELOOP


def _corrupt_pages(path: Path) -> None:
    """The footer (schema, row count, one_metadata) is intact, the column data is not: load
    sees a good table and only the deferred read fails (where the stat was taken before)."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer):
        data[i] = 0xFF
    path.write_bytes(bytes(data))


def _disk_state(path: Path) -> tuple[bool, bytes | str]:
    if path.is_symlink():
        return True, os.readlink(path)
    return False, path.read_bytes()


BROKEN = {"truncated": _truncated, "random bytes": _random_bytes,
          "no one_metadata": _no_one_metadata, "unknown columns": _unknown_columns,
          "symlink loop": _symlink_loop}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_an_unreadable_sessions_table_is_never_written_over(fixture_cache: Path,
                                                            kind: str) -> None:
    """ONE's sessions.pqt one-tui cannot read: the save writes the datasets it did read, leaves
    sessions.pqt as it is, and says so in one line (was: replaced by one-tui's few rows)."""
    path = fixture_cache / "sessions.pqt"
    BROKEN[kind](path)
    before = _disk_state(path)
    cache = load_cache(fixture_cache)
    assert len(cache.sessions) == 0
    cache.merge(sessions=_new_session(EID_NEW), datasets=pd.DataFrame(
        {"eid": [EID_NEW], "id": [EID_OTHER], "rel_path": ["alf/new.thing.npy"],
         "exists": [True], "qc": ["PASS"]}))
    cache.warnings.clear()
    saved = save_cache(cache)
    assert _disk_state(path) == before
    assert saved is True  # datasets.pqt was read: it is saved, merged
    assert "sessions" in cache.unreadable
    [line] = cache.warnings
    assert line.startswith("sessions.pqt not saved: it could not be read") and "\n" not in line
    assert "left as it is" in line
    again = load_cache(fixture_cache)
    assert len(again.datasets) == 694
    assert save_cache(cache) is False  # still refused, still said
    assert _disk_state(path) == before and len(cache.warnings) == 2


def test_a_table_whose_deferred_read_failed_is_not_taken_for_ours(fixture_cache: Path) -> None:
    """datasets.pqt with a good footer and corrupt pages: load counts its 693 rows, the first
    access fails. The save must not think the file is the one it read (was: 693 rows replaced
    by 1, True returned, no word)."""
    path = fixture_cache / "datasets.pqt"
    _corrupt_pages(path)
    before = path.read_bytes()
    cache = load_cache(fixture_cache)
    assert cache.row_counts["datasets"] == 693
    cache.merge(datasets=pd.DataFrame(
        {"eid": [EID_NEW], "id": [EID_OTHER], "rel_path": ["alf/new.thing.npy"],
         "exists": [True], "qc": ["PASS"]}))
    saved = save_cache(cache)
    assert path.read_bytes() == before
    assert saved is False and "datasets" in cache.unreadable
    assert cache.warnings[-1].startswith("datasets.pqt not saved")


NOBODY = 65534


def _nobody_python() -> list[str] | None:
    """An interpreter uid 65534 can run with the project importable (as tests/test_odd_folders)."""
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    repo = str(Path(__file__).resolve().parents[1])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{site}{os.pathsep}{repo}", "HOME": "/tmp",
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        try:
            probe = subprocess.run([exe, "-c", "import one_tui.engine.local.cache"], user=NOBODY,
                                   group=NOBODY, env=env, cwd="/", capture_output=True,
                                   timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return [exe, env]  # type: ignore[list-item]
    return None


AS_NOBODY_SAVE = r"""
import json, sys
import pandas as pd
from datetime import date
from one_tui.engine.local.store import load_cache, save_cache
cache = load_cache(sys.argv[1])
cache.merge(sessions=pd.DataFrame({"id": [sys.argv[2]], "lab": ["l"], "subject": ["s"],
    "date": [date(2024, 1, 2)], "number": [1], "task_protocol": [""], "projects": [""]}))
saved = save_cache(cache)
print(json.dumps({"saved": saved, "warnings": cache.warnings,
                  "unreadable": sorted(getattr(cache, "unreadable", []))}))
"""


@pytest.mark.skipif(not IS_ROOT, reason="needs root to create a file another uid cannot read")
def test_another_users_private_table_in_a_shared_folder_is_not_replaced(
        fixture_cache: Path) -> None:
    """A 0777 folder shared by two users; ONE (root here) wrote sessions.pqt 0600. one-tui, as
    uid 65534, cannot read it and must not replace it (it could: the folder is writable) —
    was: 26 sessions became one-tui's 1, owned by the other user."""
    found = _nobody_python()
    if found is None:
        pytest.fail("no interpreter uid 65534 can run with the project importable")
    exe, env = found
    shared = Path(tempfile.mkdtemp(prefix="one-tui-shared-", dir="/tmp"))  # pytest's are 0700
    try:
        shared.chmod(0o777)
        for name in ("sessions.pqt", "datasets.pqt"):
            shutil.copy(fixture_cache / name, shared / name)
        path = shared / "sessions.pqt"
        path.chmod(0o600)
        (shared / "datasets.pqt").chmod(0o644)
        before = path.read_bytes()
        proc = subprocess.run([exe, "-c", AS_NOBODY_SAVE, str(shared), EID_NEW],
                              user=NOBODY, group=NOBODY, env=env, cwd="/",
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        st = path.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
        assert path.read_bytes() == before and len(load_cache(shared).sessions) == 26
        assert out["unreadable"] == ["sessions"]
        assert out["saved"] is False
        assert any(w.startswith("sessions.pqt not saved") for w in out["warnings"])
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_a_table_one_2x_is_unzipping_is_left_until_it_is_done(
        fixture_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ONE 2.x writes its tables in place holding .cache.lock: one-tui loads a half-written
    sessions.pqt. The save waits for that lock, gives up with a notice while it is held (was:
    lock ignored, table overwritten), and merges with ONE's whole table once it is done."""
    from one_tui.engine.local import store as cachesave
    monkeypatch.setattr(cachesave, "SAVE_LOCK_TIMEOUT", 0.3)  # save_cache reads it there
    whole = (fixture_cache / "sessions.pqt").read_bytes()
    (fixture_cache / "sessions.pqt").write_bytes(whole[: len(whole) // 3])
    lock = fixture_cache / ".cache.lock"
    lock.touch()  # what ONE 2.x's _save_cache does
    cache = load_cache(fixture_cache)
    cache.merge(sessions=_new_session(EID_NEW))
    assert save_cache(cache) is False
    assert lock.exists() and lock.read_bytes() == b""
    assert ".cache.lock held by ONE-api 2.x" in cache.warnings[-1]
    assert cache.warnings[-1].startswith("tables not saved") and "\n" not in cache.warnings[-1]
    # ONE finishes: the whole table, its lock removed
    (fixture_cache / "sessions.pqt").write_bytes(whole)
    lock.unlink()
    assert save_cache(cache) is True
    disk = load_cache(fixture_cache)
    assert len(disk.sessions) == 27 and EID_NEW in disk.sessions.index


# --- locks shared with ONE-api ------------------------------------------------------------------


ONE3_LOCK = {"datetime": "2026-01-01T00:00:00", "hostname": "<built-in function gethostname>"}


def test_a_foreign_lock_is_not_broken_while_its_writer_may_be_alive(tmp_path: Path) -> None:
    """ONE 3.x's lock carries no pid. Six seconds old, with a table written a moment ago, its
    writer may well be alive (a big table takes longer than ONE's 5 s): one-tui waits and
    gives up, it does not remove it (was: broken after 5 s, and ONE crashed on exit)."""
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps(ONE3_LOCK))
    (tmp_path / "datasets.pqt").write_bytes(b"being written")
    old = time.time() - 6
    os.utime(path, (old, old))
    with pytest.raises(LockTimeout, match=r"\.ONE\.lock held by ONE-api"):
        FileLock(tmp_path, timeout=0.3).acquire()
    assert json.loads(path.read_text()) == ONE3_LOCK


def test_a_foreign_lock_left_for_ten_minutes_with_idle_tables_is_broken(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps(ONE3_LOCK))
    table = tmp_path / "sessions.pqt"
    table.write_bytes(b"x")
    old = time.time() - layout.ABANDONED_AFTER.total_seconds() - 60
    for p in (path, table):
        os.utime(p, (old, old))
    with FileLock(tmp_path, timeout=5):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


def test_release_leaves_a_lock_one_re_created(tmp_path: Path) -> None:
    """ONE 3.x deletes a lock it waited 5 s for and writes its own; when one-tui then finishes
    it must not remove ONE's (was: removed, and ONE's exit raised FileNotFoundError)."""
    lock = FileLock(tmp_path)
    lock.acquire()
    path = tmp_path / LOCK_NAME
    path.unlink()
    path.write_text(json.dumps(ONE3_LOCK))
    lock.release()
    assert json.loads(path.read_text()) == ONE3_LOCK
    assert not (tmp_path / ".cache.lock").exists()  # that one was still ours


def test_a_held_lock_keeps_its_files_fresh_for_one_2x(tmp_path: Path) -> None:
    """ONE 2.x deletes a .cache.lock whose ctime is over 5 s old: a one-tui save of a big
    table holds it longer, so the lock's times are refreshed while it is held."""
    with FileLock(tmp_path):
        path = tmp_path / ".cache.lock"
        first = path.stat().st_ctime_ns
        deadline = time.monotonic() + 30
        while path.stat().st_ctime_ns == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.stat().st_ctime_ns > first
    assert not path.exists()


def test_a_refused_save_reaches_the_apps_notices(fixture_cache: Path) -> None:
    """The one-line refusal is what the app shows (One.notices), and save_cache says False."""
    from one_tui.engine.one import One

    _truncated(fixture_cache / "sessions.pqt")
    one = One(cache_dir=fixture_cache, mode="local")
    one.notices.clear()
    one._cache.merge(sessions=_new_session(EID_NEW))
    assert one.save_cache() is False
    assert [n for n in one.notices if n.startswith("sessions.pqt not saved")]
