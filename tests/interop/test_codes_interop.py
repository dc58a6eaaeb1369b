"""ONE-api reads the datasets table one-tui saved after merging remote rows into the codes
(the datasets never loaded as a frame until the save), with ONE 3.6.1 and 2.11.2 as oracles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from one_tui.demo.synth import generate
from one_tui.engine.local import listing, merge, query
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.store import load_cache, save_cache
from tests.oracles import VERSIONS

pytestmark = pytest.mark.oracle

ONE_SEES = """
from one.api import One
one = One(cache_dir=ARGS['dir'], mode='local')
d = one._cache['datasets']
keys = ['/'.join(map(str, i)) for i in d.index]
qc = dict(zip(keys, map(str, d['qc'])))
emit({'rows': len(d), 'keys': sorted(keys), 'qc': qc.get(ARGS['updated']),
      'file_size': str(d['file_size'].dtype)})
"""

NEW_EID = "5b2b9a1c-4e0c-4f35-9d73-5d1e3b1f0a10"
NEW_DATASET = "9c3e0b2d-8a71-4f42-b0c5-2a5d9e4c1b77"


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_one_reads_what_was_merged_into_the_codes_and_saved(
        oracle, version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "LARGE_TABLE", 1000)  # the big-table merge on ~2,000 rows
    folder = tmp_path / "tables"
    generate(n_sessions=30, seed=5).write_tables(folder)
    cache = load_cache(folder)
    eid = query.search(cache, datasets="spikes.times.npy")[0]
    assert isinstance(cache.datasets_for_query(), DatasetCodes)
    row = listing.list_datasets(cache, eid, details=True, keep_eid_index=True).iloc[:1].copy()
    row["qc"] = "CRITICAL"
    new = pd.DataFrame({"eid": [NEW_EID], "id": [NEW_DATASET],
                        "rel_path": ["alf/new.thing.npy"], "file_size": [None],
                        "hash": [None], "exists": [True], "qc": ["PASS"],
                        "default_revision": [True]})
    cache.merge(origin="https://alyx.example.org",
                        datasets=pd.concat([row.reset_index(), new], ignore_index=True))
    assert not cache.is_loaded("datasets")  # merged into the codes
    assert save_cache(cache) is True
    mine = load_cache(folder).datasets
    updated = "/".join(map(str, row.index[0]))
    got = oracle(version, ONE_SEES, home=tmp_path, args={"dir": str(folder),
                                                         "updated": updated})
    assert got["rows"] == len(mine)
    assert got["keys"] == sorted("/".join(map(str, i)) for i in mine.index)
    assert f"{NEW_EID}/{NEW_DATASET}" in got["keys"]
    assert got["qc"] == "CRITICAL"
    assert got["file_size"] == "UInt64"
