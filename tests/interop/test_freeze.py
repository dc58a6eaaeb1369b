"""`one-tui freeze`: the folder it writes is what ONE-api 2.11.2 and 3.6.1 read in local mode
on a node with no network (an unreachable base URL), answering the same searches one-tui did
before the freeze, with the files it put there loadable and the ones it could not named."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from hashlib import md5, sha1
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from one_tui.cli import main
from one_tui.demo import cachefiles
from one_tui.engine import One
from one_tui.engine.freeze import MARKER

#: the searches compared before and after the freeze (terms built from the chosen subject)
ONE_READS = """
from one.api import ONE
out = {}
for how, kwargs in (('line', {}), ('unreachable', {'base_url': 'http://127.0.0.1:9',
                                                   'silent': True})):
    one = ONE(mode='local', cache_dir=ARGS['dir'], **kwargs)
    got = {name: sorted(str(e) for e in one.search(**terms))
           for name, terms in ARGS['searches'].items()}
    got['datasets'] = sorted(one.list_datasets(ARGS['eid']))
    got['loaded'] = one.load_dataset(ARGS['eid'], ARGS['good']).tolist()
    out[how] = got
emit(out)
"""


def _cache(db: Any, folder: Path, digest: Callable[[bytes], Any] = md5
           ) -> tuple[str, str, str, list[int]]:
    """The demo tables in ``folder`` with two .npy files of one session on disk: one whose
    bytes are Alyx's (size and hash, md5 unless ``digest`` says, in the table) and one that is
    not. Returns (eid, good rel_path, bad rel_path, the good array)."""
    sessions, datasets = db.sessions.copy(), db.datasets.copy()
    eid = str(sessions.index[0])
    rows = datasets.loc[eid]
    names = [str(r) for r in rows["rel_path"] if str(r).endswith(".npy")][:2]
    assert len(names) == 2, names
    values = list(range(7))
    buf = io.BytesIO()
    np.save(buf, np.array(values))
    data = buf.getvalue()
    for rel, content in ((names[0], data), (names[1], b"not the bytes Alyx knows")):
        did = rows.index[rows["rel_path"] == rel][0]
        datasets.loc[(eid, did), "file_size"] = len(data)
        datasets.loc[(eid, did), "hash"] = digest(data).hexdigest()
        s = sessions.loc[eid]
        path = (folder / s["lab"] / "Subjects" / s["subject"] / str(s["date"])
                / f"{int(s['number']):03d}" / rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    cachefiles.write_tables(folder, sessions, datasets, db.table_metadata())
    return eid, names[0], names[1], values


@pytest.mark.parametrize("version", ["2.11.2", "3.6.1"])
def test_a_frozen_folder_answers_the_same_in_one_api_offline(
        version: str, make_db: Any, oracle: Any, tmp_path: Path, home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cache, dest = tmp_path / "cache", tmp_path / "frozen"
    eid, good, bad, values = _cache(make_db(40, 5), cache)
    one = One(cache_dir=cache, mode="local")
    subject = str(one.tables.cache.sessions.loc[eid, "subject"])
    day = str(one.tables.cache.sessions.loc[eid, "date"])[:10]
    searches = {"subject": {"subject": subject},
                "subject_day": {"subject": subject, "date_range": [day, day]},
                "lab": {"lab": str(one.tables.cache.sessions.loc[eid, "lab"])}}
    before = {name: sorted(one.search(**terms)) for name, terms in searches.items()
              if name != "lab"}

    rc = main(["freeze", str(dest), f"subject={subject}", "--cache-dir", str(cache),
               "--with-data", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 1  # most files are not on this disk: named, with what to do
    assert report["sessions"] == len(before["subject"]) and report["linked"] == 1
    assert any(p.endswith(bad) for p in report["mismatched"])
    assert len(report["missing"]) == report["datasets"] - 2
    assert report["python"] == f"from one.api import ONE; one = ONE(mode='local', " \
                               f"cache_dir={str(dest)!r})"
    frozen = next(dest.rglob(Path(good).name))
    source = next(cache.rglob(Path(good).name))
    assert frozen.stat().st_ino == source.stat().st_ino  # hard-linked, not copied
    assert not list(dest.rglob(Path(bad).name))

    (tmp_path / "node").mkdir()
    got = oracle(version, ONE_READS, home=tmp_path / "node", args={
        "dir": str(dest), "eid": eid, "good": Path(good).name, "searches": searches})
    for how in ("line", "unreachable"):
        answers = got[how]
        assert answers["subject"] == before["subject"]
        assert answers["subject_day"] == before["subject_day"] == [eid]
        assert answers["lab"] == before["subject"]  # only the frozen sessions are there
        assert answers["datasets"] == sorted(one.list_datasets(eid))
        assert answers["loaded"] == values


def test_freeze_never_writes_over_tables_it_did_not_write(
        make_db: Any, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    eid, *_ = _cache(make_db(40, 5), cache)
    other = tmp_path / "other"
    make_db(20, 3).write_tables(other)
    before = (other / "sessions.pqt").read_bytes()
    assert main(["freeze", str(other), "--cache-dir", str(cache)]) == 3
    assert "did not write" in capsys.readouterr().err
    assert (other / "sessions.pqt").read_bytes() == before
    dest = tmp_path / "frozen"
    assert main(["freeze", str(dest), "--cache-dir", str(cache)]) == 0
    assert (dest / MARKER).is_file()
    assert main(["freeze", str(dest), "--cache-dir", str(cache)]) == 0  # again, after a fetch


def test_freeze_checks_a_sha1_hash_as_sha1(make_db: Any, tmp_path: Path, home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A table's hash is md5 or sha1 by its length (ONE's tables hold both): freeze hashed
    every file with md5, so a right file under a sha1 was called mismatched and left out."""
    cache, dest = tmp_path / "cache", tmp_path / "frozen"
    eid, good, bad, _values = _cache(make_db(40, 5), cache, digest=sha1)
    subject = str(One(cache_dir=cache, mode="local").tables.cache.sessions.loc[eid, "subject"])
    main(["freeze", str(dest), f"subject={subject}", "--cache-dir", str(cache), "--with-data",
          "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["linked"] == 1 and next(dest.rglob(Path(good).name))
    assert [p for p in report["mismatched"] if p.endswith(bad)] == report["mismatched"]
