"""Cache tables shared with ONE-api, both ways, with ONE-api 3.6.1 and 2.11.2 as the oracles.

Every table file one-tui writes (``sessions.pqt``, ``datasets.pqt``) is read by each ONE
version, which must see one-tui's rows with ONE's dtypes; and one-tui reads what each ONE
version saved. ``insertions`` are kept in ``.one-tui/insertions.pqt``, out of ONE's sight (ONE
3.6.1 cannot save beside an insertions.pqt it did not load): a test shows ONE saving after that.
The real-Alyx tests reproduce the issue's runs (ONE's remote search + save_cache, ONE 2.11.2's
refresh_cache) against the real Alyx 3.6.1, read-only.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from one_tui.demo.synth import generate
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.store import load_cache, save_cache
from one_tui.engine.one import One
from tests.oracles import VERSIONS

pytestmark = pytest.mark.oracle
ONE_VERSIONS = sorted(VERSIONS)

#: ONE reads a folder (One(mode='local'), as a user would) and reports what it sees.
ONE_READS = """
from one.api import One
one = One(cache_dir=ARGS['dir'], mode='local')
out = {}
for name in ('sessions', 'datasets'):
    df = one._cache[name]
    out[name] = {
        'rows': len(df), 'index': list(df.index.names),
        'ids': sorted('/'.join(map(str, i)) if isinstance(i, tuple) else str(i)
                      for i in df.index),
        'dtypes': {k: str(v) for k, v in df.dtypes.items()},
    }
out['raw'] = {k: {kk: sorted(vv) if isinstance(vv, set) else vv for kk, vv in v.items()}
              for k, v in one._cache['_meta']['raw'].items()}
emit(out)
"""


def _ids(df: pd.DataFrame) -> list[str]:
    return sorted("/".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in df.index)


def _kind(dtype: Any) -> str:
    """A dtype as ONE's tables name it, across pandas 2 and 3 (object / str are both text)."""
    text = str(dtype)
    return "text" if text in ("object", "str", "string") else text


NEW_EID = "5b2b9a1c-4e0c-4f35-9d73-5d1e3b1f0a10"
NEW_DATASET = "9c3e0b2d-8a71-4f42-b0c5-2a5d9e4c1b77"


def _one_tui_saves(folder: Path, origin: str = "https://alyx.example.org") -> Cache:
    """What one-tui writes in ordinary use: ONE-format tables, a remote session merged in
    (one dataset of unknown size), saved. Returns the cache as one-tui reads it back."""
    generate(n_sessions=30, seed=5).write_tables(folder)
    cache = load_cache(folder)
    cache.merge(origin=origin,
        sessions=pd.DataFrame({"id": [NEW_EID], "lab": ["newlab"], "subject": ["NEW01"],
                               "date": ["2024-01-02"], "number": [1], "task_protocol": [""],
                               "projects": [""]}),
        datasets=pd.DataFrame({"eid": [NEW_EID], "id": [NEW_DATASET],
                               "rel_path": ["alf/new.thing.npy"], "file_size": [None],
                               "hash": [None], "exists": [True], "qc": ["PASS"],
                               "default_revision": [True]}))
    assert save_cache(cache) is True
    return load_cache(folder)


@pytest.mark.parametrize("version", ONE_VERSIONS)
def test_one_reads_the_tables_one_tui_saved(oracle, version: str, tmp_path: Path) -> None:
    """Right rows, index and dtypes in ONE: file_size UInt64 (was float64: no pandas metadata),
    origin one string (a list broke ONE 2.11.2)."""
    folder = tmp_path / "tables"
    ours = _one_tui_saves(folder)
    got = oracle(version, ONE_READS, home=tmp_path, args={"dir": str(folder)})
    for name, mine in (("sessions", ours.sessions), ("datasets", ours.datasets)):
        seen = got[name]
        assert seen["rows"] == len(mine) and seen["ids"] == _ids(mine), name
        assert seen["index"] == list(mine.index.names), name
    assert got["datasets"]["dtypes"]["file_size"] == "UInt64"
    assert got["datasets"]["dtypes"]["qc"] == "category"
    assert got["datasets"]["dtypes"]["exists"] == "bool"
    assert got["datasets"]["dtypes"]["default_revision"] == "bool"
    assert got["sessions"]["dtypes"]["number"] == "uint16"
    assert {k: _kind(v) for k, v in got["datasets"]["dtypes"].items()} == {
        k: _kind(v) for k, v in ours.datasets.dtypes.items() if k != "rel_path"} | {
        "rel_path": "text"}  # one-tui keeps paths as a categorical in memory, writes strings
    for name in ("sessions", "datasets"):
        origin = got["raw"][name]["origin"]
        # ONE 3.x makes a set of what it reads, ONE 2.x keeps the string written
        assert origin in ("demo", ["demo"]), origin  # the synthetic tables' own


#: ONE loads the folder, merges rows the way its remote calls do and saves: sessions whose
#: index lost its name (ONE 3.6.1's remote search), datasets records without default_revision
#: (ONE 3.6.1's merge then makes that column nullable 'boolean'). Reports what it saved.
ONE_SAVES = """
import threading
import pandas as pd
from datetime import date
from one.api import One
one = One(cache_dir=ARGS['dir'], mode='local')
ses = pd.DataFrame({'lab': ['onelab'] * 3, 'subject': ['ONE01'] * 3,
                    'date': [date(2025, 3, d) for d in (1, 2, 3)], 'number': [1, 2, 3],
                    'task_protocol': ['x'] * 3, 'projects': [''] * 3},
                   index=pd.Index(ARGS['eids'], name=None))
ses['number'] = ses['number'].astype('uint16')
ids = pd.MultiIndex.from_arrays([ARGS['eids'], ARGS['dids']], names=['eid', 'id'])
dsets = pd.DataFrame({'rel_path': ['alf/a.b.npy'] * 3, 'file_size': pd.array([1, None, 3],
                      dtype='UInt64'), 'hash': ['h'] * 3, 'exists': [True] * 3,
                      'qc': ['PASS'] * 3}, index=ids)
dsets['qc'] = dsets['qc'].astype(one._cache['datasets']['qc'].dtype)  # ONE's QC_TYPE
if ARGS['uuid_index']:  # ONE 3.x keeps UUID objects in its index
    import uuid
    from one.alf.cache import merge_tables
    ses.index = ses.index.map(uuid.UUID)
    dsets.index = pd.MultiIndex.from_arrays(
        [dsets.index.get_level_values(i).map(uuid.UUID) for i in range(2)], names=['eid', 'id'])
    # merge_tables' convert_dtypes() of the columns the records lack (default_revision), as it
    # lands under pandas 2; under pandas 3 the column stays bool and ONE's merge itself fails
    one._cache['datasets'] = one._cache['datasets'].astype({'default_revision': 'boolean'})
    merge_tables(one._cache, sessions=ses, datasets=dsets, origin='http://one.example.org')
    one._cache['sessions'].index.name = None  # what its remote search leaves
    # clobber: written as held (its merge with the disk's bool column would fail on the NA)
    one.save_cache(clobber=True)
else:  # ONE 2.x: string ids, save_cache in a thread
    one._cache['sessions'] = pd.concat([one._cache['sessions'], ses]).sort_index()
    one._cache['sessions'].index.name = None
    one._cache['datasets'] = pd.concat([one._cache['datasets'], dsets.assign(
        default_revision=pd.array([True, None, False], dtype='boolean'))]).sort_index()
    one._cache['_meta']['modified_time'] = pd.Timestamp.now().to_pydatetime()
    one.save_cache()
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join()
again = One(cache_dir=ARGS['dir'], mode='local')
out = {}
for name in ('sessions', 'datasets'):
    df = again._cache[name]
    out[name] = {'rows': len(df), 'ids': sorted('/'.join(map(str, i)) if isinstance(i, tuple)
                 else str(i) for i in df.index),
                 'dtypes': {k: str(v) for k, v in df.dtypes.items()}}
emit(out)
"""


@pytest.mark.parametrize("version", ONE_VERSIONS)
def test_one_tui_reads_the_tables_one_saved(oracle, version: str, tmp_path: Path) -> None:
    """one-tui sees every row ONE saved, with ONE's index, and reads the dtypes ONE reads
    (default_revision was object after ONE 3.6.1's merge made it nullable; an unnamed index
    stored as __index_level_0__ gave 0 sessions)."""
    folder = tmp_path / "tables"
    generate(n_sessions=30, seed=6).write_tables(folder)
    eids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    dids = [f"11111111-0000-4000-8000-00000000000{i}" for i in range(3)]
    got = oracle(version, ONE_SAVES, home=tmp_path,
                 args={"dir": str(folder), "eids": eids, "dids": dids,
                       "uuid_index": version.startswith("3.")})
    schema = pq.read_schema(folder / "sessions.pqt")
    assert "__index_level_0__" in schema.names  # the file the issue saw
    cache = load_cache(folder)
    assert cache.warnings == []
    assert len(cache.sessions) == got["sessions"]["rows"] == 33
    assert _ids(cache.sessions) == got["sessions"]["ids"]
    assert list(cache.sessions.index.names) == ["id"]
    assert _ids(cache.datasets) == got["datasets"]["ids"]
    for name in ("sessions", "datasets"):
        df = cache.table(name)
        for col, dtype in got[name]["dtypes"].items():
            if col == "rel_path":  # a categorical in one-tui's memory, text in ONE's
                continue
            assert _kind(df[col].dtype) == _kind(dtype), (name, col)
    assert str(cache.datasets["default_revision"].dtype) == "boolean"
    assert cache.datasets.loc[(eids[1], dids[1]), "file_size"] is pd.NA
    # and one-tui's next save keeps ONE's rows (was: 33 sessions replaced by one-tui's 1)
    cache.merge(sessions=pd.DataFrame(
        {"id": [NEW_EID], "lab": ["l"], "subject": ["s"], "date": [date(2024, 1, 2)],
         "number": [1], "task_protocol": [""], "projects": [""]}))
    assert save_cache(cache) is True
    again = oracle(version, ONE_READS, home=tmp_path, args={"dir": str(folder)})
    assert again["sessions"]["rows"] == 34


# --- the runs against the real Alyx ---------------------------------------------------


def _one_login(real_alyx) -> dict[str, str]:
    return {"url": real_alyx.base_url, "user": real_alyx.username,
            "password": real_alyx.password}


ONE3_REMOTE_SEARCH_SAVE = """
from one.api import ONE
one = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'],
          cache_dir=ARGS['dir'], silent=True, mode='remote')
eids = [str(e) for e in one.search(query_type='remote')]
one.save_cache()
emit({'eids': eids})
"""


@pytest.mark.real_alyx
def test_one_3_remote_search_saved_tables_are_read_whole(oracle, real_alyx,
                                                         tmp_path: Path) -> None:
    """The issue's run: ONE 3.6.1 search(query_type='remote') + save_cache(). one-tui loads
    every session with its eid as index (was: 0), and its next save keeps them all."""
    folder = tmp_path / "ONE"
    got = oracle("3.6.1", ONE3_REMOTE_SEARCH_SAVE, home=tmp_path,
                 args={**_one_login(real_alyx), "dir": str(folder)})
    assert len(got["eids"]) >= 50
    assert "__index_level_0__" in pq.read_schema(folder / "sessions.pqt").names
    one = One(cache_dir=folder, mode="local")
    assert sorted(one.search()) == sorted(got["eids"])
    assert one.notices == []
    one._cache.merge(origin="one-tui", sessions=pd.DataFrame(
        {"id": [NEW_EID], "lab": ["l"], "subject": ["s"], "date": [date(2024, 1, 2)],
         "number": [1], "task_protocol": [""], "projects": [""]}))
    assert one.save_cache() is True
    seen = oracle("3.6.1", ONE_READS, home=tmp_path, args={"dir": str(folder)})
    assert seen["sessions"]["rows"] == len(got["eids"]) + 1


ONE2_REFRESH = """
from one.api import ONE
one = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'],
          cache_dir=ARGS['dir'], silent=True, mode='local')
one.refresh_cache('refresh')
emit({'sessions': len(one._cache['sessions'])})
"""


@pytest.mark.real_alyx
def test_one_2_refreshes_a_folder_one_tui_saved(oracle, real_alyx, tmp_path: Path) -> None:
    """Tables one-tui saved after a REST merge (two origins in memory): ONE 2.11.2's
    refresh_cache('refresh') downloads the newer tables (was: TypeError: unhashable type:
    'list', the origin saved as a JSON list)."""
    folder = tmp_path / "ONE"
    folder.mkdir()
    db = generate(n_sessions=10, seed=7)
    db.write_tables(folder, date_created=pd.Timestamp("2020-01-02 03:04").to_pydatetime())
    cache = load_cache(folder)
    cache.merge(origin=real_alyx.base_url, sessions=pd.DataFrame(
        {"id": [NEW_EID], "lab": ["l"], "subject": ["s"], "date": [date(2024, 1, 2)],
         "number": [1], "task_protocol": [""], "projects": [""]}))
    assert cache.meta["raw"]["sessions"]["origin"] == [db.origin, real_alyx.base_url]
    assert save_cache(cache) is True
    meta = json.loads(pq.read_schema(folder / "sessions.pqt").metadata[b"one_metadata"])
    got = oracle("2.11.2", ONE2_REFRESH, home=tmp_path,
                 args={**_one_login(real_alyx), "dir": str(folder)}, check=False)
    assert "error" not in got, got["error"]
    assert got["sessions"] >= 50  # the real Alyx's tables, downloaded
    assert meta["origin"] == db.origin  # one string, the table's own (as Alyx writes it)


ONE3_SAVE_AFTER = """
from one.api import ONE
one = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'],
          cache_dir=ARGS['dir'], silent=True, mode='remote')
one.search(query_type='remote')
one.save_cache()
emit({'tables': sorted(k for k in one._cache if not k.startswith('_'))})
"""


@pytest.mark.real_alyx
def test_one_3_saves_after_one_tui_merged_insertions(oracle, real_alyx,
                                                     tmp_path: Path) -> None:
    """one-tui searched insertions on Alyx and saved; then ONE 3.6.1 (remote mode, the default)
    searches and saves: no KeyError: 'insertions' (its save looks up every *.pqt on disk in
    its own metadata), and one-tui still has its insertions locally."""
    folder = tmp_path / "ONE"
    one = One(base_url=real_alyx.base_url, username=real_alyx.username,
              password=real_alyx.password, cache_dir=folder, mode="remote")
    pids = one.search_insertions(query_type="remote")
    assert len(pids) >= 10
    assert one.save_cache() is True
    got = oracle("3.6.1", ONE3_SAVE_AFTER, home=tmp_path,
                 args={**_one_login(real_alyx), "dir": str(folder)}, check=False)
    assert "error" not in got, got["error"]
    assert not (folder / "insertions.pqt").exists()  # out of ONE's *.pqt glob
    again = One(cache_dir=folder, mode="local")
    assert sorted(again.search_insertions()) == sorted(pids)
    assert len(again.search()) >= 50  # ONE's sessions, read back
