"""Release tags against the real Alyx 3.6.1 and ONE-api 2.11.2 / 3.6.1 on the same folders.

The loopback Alyx publishes Brainwidemap (public) and RSS2024 (protected) tag tables the way
IBL does (``cache/info/<tag>/`` with a ``location`` on the file server's public area). Truths:
what ONE-api's ``load_cache(tag=...)`` writes, Alyx's ``cache/info`` answers and the servers'
access logs (only the lines of this test's own URLs are counted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from one_tui.engine import EngineService, One
from one_tui.engine.core.types import OutcomeKind
from one_tui.engine.tablesets import disk_tags
from tests.real_alyx.conftest import Server

pytestmark = pytest.mark.real_alyx

TAG = "Brainwidemap"

#: ONE-api reads one-tui's tag folder, then downloads the tag itself into a folder of its own
#: (3.x stays in remote mode after load_cache(tag): the FAQ's ``one.mode = 'local'``)
ONE_TAG = """
from pathlib import Path
from one.api import ONE, One
mine = One(cache_dir=str(Path(ARGS['mine']) / ARGS['tag']))
theirs = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'],
             silent=True, cache_dir=ARGS['theirs'])
theirs.load_cache(tag=ARGS['tag'])
theirs.mode = 'local'
emit({'read_mine': sorted(str(e) for e in mine.search()),
      'mine_datasets': len(mine._cache['datasets']),
      'theirs': sorted(str(e) for e in theirs.search()),
      'theirs_datasets': len(theirs._cache['datasets']),
      'tables_dir': str(theirs._tables_dir)})
"""


def _data_lines(real_alyx: Any, needle: str) -> int:
    """Lines of the file server's log that name ``needle`` (this test's own URLs only)."""
    log = Path(real_alyx.access_log).parent / "data-access.log"
    return sum(needle in line for line in log.read_text(errors="replace").splitlines())


def _alyx_lines(real_alyx: Any, needle: str) -> int:
    log = Path(real_alyx.access_log)
    return sum(needle in line for line in log.read_text(errors="replace").splitlines())


def _open(real: Server, folder: Path, **kw: Any) -> EngineService:
    return EngineService.open(base_url=real.base_url, cache_dir=folder, username=real.username,
                              password=real.password, **kw)


@pytest.mark.parametrize("version", ["2.11.2", "3.6.1"])
def test_one_api_and_one_tui_tag_tables_are_the_same_and_each_reads_the_other(
        version: str, real: Server, oracle: Any, tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    service = _open(real, mine, tag=TAG)
    outcome = service.connect()
    assert outcome.kind is OutcomeKind.NEW_TABLES, outcome
    assert not (mine / "sessions.pqt").exists()  # the full tables were never fetched
    ours = sorted(service.one.search())
    assert ours and disk_tags(mine / TAG) == (TAG,)

    got = oracle(version, ONE_TAG, home=tmp_path, args={
        "mine": str(mine), "theirs": str(theirs), "tag": TAG, "url": real.base_url,
        "user": real.username, "password": real.password})
    assert got["tables_dir"] == str(theirs / TAG)
    assert got["read_mine"] == ours == got["theirs"]
    assert got["mine_datasets"] == got["theirs_datasets"]
    # one-tui reads ONE-api's tag folder, offline
    reader = One(cache_dir=theirs, mode="local", tag=TAG)
    assert sorted(reader.search()) == ours
    assert len(reader.tables.cache.datasets) == got["theirs_datasets"]


def test_a_second_start_downloads_no_tag_tables(real: Server, real_alyx: Any,
                                                 tmp_path: Path) -> None:
    zip_url = f"/public/caches/{TAG}/cache.zip"
    before = _data_lines(real_alyx, zip_url)
    full_before = _alyx_lines(real_alyx, "GET /cache.zip")
    first = _open(real, tmp_path, tag=TAG).connect()
    assert first.kind is OutcomeKind.NEW_TABLES
    assert _data_lines(real_alyx, zip_url) == before + 1
    info_before = _alyx_lines(real_alyx, f"/cache/info/{TAG}/")
    for mode in ("auto", "refresh", "remote"):  # each a new process's start
        again = _open(real, tmp_path, tag=TAG, mode=mode)
        outcome = again.connect()
        assert outcome.kind in (OutcomeKind.NOT_EXPIRED, OutcomeKind.NOTHING_NEWER), outcome
        # and an explicit refresh finds nothing newer either
        assert again.refresh("refresh").kind is OutcomeKind.NOTHING_NEWER
    assert _data_lines(real_alyx, zip_url) == before + 1
    assert _alyx_lines(real_alyx, "GET /cache.zip") == full_before  # nor the full tables
    assert _alyx_lines(real_alyx, f"/cache/info/{TAG}/") >= info_before + 3


@pytest.mark.parametrize("mode", ["auto", "refresh", "remote", "local"])
def test_no_mode_writes_full_tables_into_a_tag_folder_or_tag_tables_over_the_full_ones(
        mode: str, real: Server, tmp_path: Path) -> None:
    full = _open(real, tmp_path)  # the full tables first, then the tag beside them
    assert full.connect().kind is OutcomeKind.NEW_TABLES
    assert full.use_tables(TAG).kind is OutcomeKind.NEW_TABLES
    n_full, n_tag = len(One(cache_dir=tmp_path, mode="local").search()), \
        len(One(cache_dir=tmp_path, mode="local", tag=TAG).search())
    assert n_tag < n_full

    one = One(base_url=real.base_url, username=real.username, password=real.password,
              cache_dir=tmp_path, mode=mode)
    one.load_cache(tables_dir=tmp_path / TAG)           # ONE 3.6.1's trap B
    assert one.tag == TAG
    one.load_cache(tables_dir=tmp_path / TAG, clobber=True)
    if mode != "local":
        one.refresh_cache("refresh")                    # ONE 2.11.2's trap C
        one.refresh("refresh")
    one.load_cache(clobber=True)
    assert len(one.search()) == n_tag                   # searches read the tag (trap E)
    one.load_cache(tables_dir=tmp_path, clobber=True)   # back to the full set
    assert one.tag is None and len(one.search()) == n_full

    assert disk_tags(tmp_path / TAG) == (TAG,) and disk_tags(tmp_path) == ()
    assert len(One(cache_dir=tmp_path, mode="local", tag=TAG).search()) == n_tag
    assert len(One(cache_dir=tmp_path, mode="local").search()) == n_full


ONE3_TRAP_B = """
from one.api import ONE
one = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'],
          silent=True, cache_dir=ARGS['dir'])
one.load_cache(tables_dir=ARGS['tag_dir'], clobber=True)  # trap B, whatever the dates
emit({'tags': one._cache['_meta']['raw']['sessions'].get('database_tags'),
      'n': len(one._cache['sessions'])})
"""


def test_one_tui_repairs_a_tag_folder_that_one_api_filled_with_the_full_tables(
        real: Server, oracle: Any, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    service = _open(real, folder, tag=TAG)
    assert service.connect().kind is OutcomeKind.NEW_TABLES
    n_tag = len(service.one.search())
    got = oracle("3.6.1", ONE3_TRAP_B, home=tmp_path, args={
        "url": real.base_url, "user": real.username, "password": real.password,
        "dir": str(folder), "tag_dir": str(folder / TAG)})
    assert not got["tags"] and got["n"] > n_tag          # ONE's trap B happened
    assert disk_tags(folder / TAG) == ()

    again = _open(real, folder, tag=TAG)
    outcome = again.connect()
    assert outcome.kind is OutcomeKind.NEW_TABLES, outcome
    assert any("another set" in n for n in outcome.notices)
    assert disk_tags(folder / TAG) == (TAG,)
    assert len(again.one.search()) == n_tag


def test_the_tag_picker_rows_say_what_alyx_publishes_and_what_is_on_disk(
        real: Server, tmp_path: Path) -> None:
    service = _open(real, tmp_path)
    before = {t.name: t for t in service.tags().value}
    assert {"Brainwidemap", "RSS2024"} <= set(before)
    bwm = before[TAG]
    info = real.get(f"/cache/info/{TAG}/").json()
    assert bwm.public and not bwm.protected and bwm.description
    assert bwm.date_created == info["date_created"] and bwm.on_disk is None
    assert bwm.sessions == info["tables"]["sessions"]["nrecs"]
    assert before["RSS2024"].protected
    service.use_tables(TAG)
    after = {t.name: t for t in service.tags().value}
    assert after[TAG].on_disk and after[TAG].disk_is_current
    assert after["RSS2024"].on_disk is None


def test_the_demo_publishes_its_tags_as_the_real_alyx_does(either: Server) -> None:
    tags = either.get("/tags").json()
    records = tags["results"] if isinstance(tags, dict) else tags
    assert records and all({"name", "description", "public", "protected"} <= set(r)
                           for r in records)
    for record in records:
        name = record["name"]
        info = either.get(f"/cache/info/{name}/").json()
        assert info["database_tags"] == [name] and info["location"], (either.name, info)
        assert either.get(f"/cache/info/{name}").status_code == 301  # ONE's 2 requests
        zipped = httpx.get(info["location"])  # the public area: no login
        assert zipped.status_code == 200 and zipped.content[:2] == b"PK"
    assert either.get("/cache/info/NoSuchTag/").status_code == 404
