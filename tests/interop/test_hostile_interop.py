"""Tables someone else wrote with one bad row or one odd column (issue 16, class 3): one-tui reads
what ONE-api 2.11.2 and 3.6.1 read and answers the same, with ONE-api itself as the oracle.

What ONE-api does on each file was found by running it (and is asserted here, so a new ONE-api
that reads more shows up): both versions read a null eid (the row is kept) and an unknown QC
value (a category after every level, so no QC filter keeps it); neither loads file sizes stored
as text (``TypeError: Expected array of UInt64 type``); 2.11.2 keeps ids stored as binary as
bytes, 3.6.1 cannot load them (``TypeError: a bytes-like object is required``). Where ONE-api
reads the file, one-tui's answers are ONE's on that file; where it cannot, one-tui's answers are
ONE's on the same table before it was spoiled (the values one-tui could not read are unknown).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from one_tui.demo.synth import generate
from one_tui.engine.local.store import load_cache, save_cache
from one_tui.engine.one import One
from tests.hostile_files import HOSTILE, write_hostile
from tests.oracles import VERSIONS

pytestmark = pytest.mark.oracle

#: (kind, ONE version) -> the error ONE-api's One() raises on that file (absent: it loads it)
ONE_REFUSES = {("text-size", "2.11.2"): "TypeError", ("text-size", "3.6.1"): "TypeError",
               ("binary-ids", "3.6.1"): "TypeError"}

ONE_ANSWERS = """
from one.api import One
try:
    one = One(cache_dir=ARGS['dir'], mode='local')
except Exception as exc:
    emit({'error': type(exc).__name__})
    raise SystemExit
emit({'rows': len(one._cache['datasets']),
      'all': sorted(map(str, one.list_datasets())),
      'by_eid': {e: sorted(map(str, one.list_datasets(e))) for e in ARGS['eids']},
      'passed': {e: sorted(map(str, one.list_datasets(e, qc='PASS'))) for e in ARGS['eids']}})
"""


def _answers(folder: Path, eids: list[str]) -> dict[str, object]:
    one = One(cache_dir=folder, mode="local")
    return {"rows": len(one.tables.cache.datasets),
            "all": sorted(map(str, one.list_datasets())),
            "by_eid": {e: sorted(map(str, one.list_datasets(e))) for e in eids},
            "passed": {e: sorted(map(str, one.list_datasets(e, qc="PASS"))) for e in eids}}


def _eids(folder: Path) -> list[str]:
    """The sessions of the spoiled rows (3, 5, 7) and the first two of the table."""
    eids = pq.read_table(folder / "datasets.pqt", columns=["eid"]).column(0).to_pylist()
    return list(dict.fromkeys([eids[3], eids[5], eids[7], eids[0], eids[400]]))


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_one_tui_answers_as_one_api_on_a_spoiled_table(oracle, kind: str, version: str,
                                                       tmp_path: Path) -> None:
    good = tmp_path / "good"
    generate(n_sessions=30, seed=5).write_tables(good)
    eids = _eids(good)
    bad = tmp_path / kind
    write_hostile(bad, kind)
    theirs = oracle(version, ONE_ANSWERS, home=tmp_path, args={"dir": str(bad), "eids": eids})
    assert theirs.get("error") == ONE_REFUSES.get((kind, version)), theirs
    if "error" in theirs:  # ONE cannot load it: the answers of the table before it was spoiled
        theirs = oracle(version, ONE_ANSWERS, home=tmp_path, args={"dir": str(good),
                                                                   "eids": eids})
    assert _answers(bad, eids) == theirs


ONE_COUNTS = """
from one.api import One
one = One(cache_dir=ARGS['dir'], mode='local')
emit({'rows': len(one._cache['datasets']), 'all': sorted(map(str, one.list_datasets()))})
"""


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_one_api_reads_a_spoiled_table_after_one_tui_saved_it(oracle, kind: str, version: str,
                                                              tmp_path: Path) -> None:
    """A save writes the table in ONE's types (the values read as the module doc says): both
    ONE versions read it, those that could not read it before included, and list what
    one-tui lists."""
    folder = tmp_path / kind
    write_hostile(folder, kind)
    cache = load_cache(folder)
    cache.merge(origin="alyx", datasets=pd.DataFrame({
        "eid": ["00000000-4e0c-4f35-9d73-5d1e3b1f0a10"],
        "id": ["11111111-8a71-4f42-b0c5-2a5d9e4c1b77"], "rel_path": ["alf/ours.npy"],
        "file_size": [1], "hash": ["h"], "exists": [True], "qc": ["PASS"],
        "default_revision": [True]}))
    assert save_cache(cache) is True
    theirs = oracle(version, ONE_COUNTS, home=tmp_path, args={"dir": str(folder)})
    ours = One(cache_dir=folder, mode="local")
    assert theirs == {"rows": len(ours.tables.cache.datasets),
                      "all": sorted(map(str, ours.list_datasets()))}
