"""`one-tui freeze --with-data` with real files: ONE-api 3.6.1 downloads a session's trials from
the loopback file server into the cache folder, one-tui freezes that session from the
Brainwidemap tables (the files hard-linked after their size and md5 match Alyx's), and ONE-api
2.11.2 and 3.6.1 load the trials from the frozen folder with an unreachable base URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from one_tui.cli import main
from one_tui.engine import EngineService
from one_tui.engine.core.types import OutcomeKind
from one_tui.engine.params import client_key
from tests.real_alyx.conftest import Server

pytestmark = pytest.mark.real_alyx

TAG = "Brainwidemap"

ONE_DOWNLOADS = """
from one.api import ONE
one = ONE(base_url=ARGS['url'], silent=True, cache_dir=ARGS['cache'], mode='remote')
files = one.load_object(ARGS['eid'], 'trials', download_only=True)
emit({'files': sorted(str(f) for f in files)})
"""

ONE_OFFLINE = """
from one.api import ONE
one = ONE(base_url='http://127.0.0.1:9', mode='local', cache_dir=ARGS['dir'], silent=True)
trials = one.load_object(ARGS['eid'], 'trials')
emit({'eids': sorted(str(e) for e in one.search(subject=ARGS['subject'])),
      'n_trials': len(trials['intervals'])})
"""


def _one_params(home: Path, real: Server, populated: dict[str, Any], cache: Path) -> None:
    """~/.one for ONE-api on the real Alyx and its file server (README of real-alyx)."""
    key = client_key(real.base_url)
    folder = home / ".one"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".caches").write_text(json.dumps({"CLIENT_MAP": {key: str(cache)},
                                                "DEFAULT": key}))
    (folder / f".{key}").write_text(json.dumps({
        "ALYX_URL": real.base_url, "ALYX_LOGIN": real.username, "ALYX_PWD": real.password,
        **populated["data_server"]["one_params"]}))


def test_freeze_with_data_hands_real_files_to_an_offline_one(
        real: Server, populated: dict[str, Any], oracle: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cache, dest, home = tmp_path / "cache", tmp_path / "frozen", tmp_path / "home"
    service = EngineService.open(base_url=real.base_url, cache_dir=cache, tag=TAG,
                                 username=real.username, password=real.password)
    assert service.connect().kind is OutcomeKind.NEW_TABLES
    found = service.one.search(dataset="_ibl_trials", details=True)
    eid, row = found[0][0], found[1][0]
    _one_params(home, real, populated, cache)
    downloaded = oracle("3.6.1", ONE_DOWNLOADS, home=home, args={
        "url": real.base_url, "cache": str(cache), "eid": eid})["files"]
    assert downloaded

    day = str(row["date"])[:10]
    rc = main(["freeze", str(dest), f"subject={row['subject']}", f"date_range={day},{day}",
               "--cache-dir", str(cache), "--tag", TAG, "--with-data", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["tag"] == TAG and report["sessions"] >= 1
    assert report["linked"] + report["copied"] == len(downloaded)  # size and md5 matched
    assert not report["mismatched"]
    assert rc == (1 if report["missing"] else 0)
    before = sorted(service.one.search(subject=row["subject"]))
    frozen = list(dest.rglob("_ibl_trials.*"))
    assert len(frozen) == len(downloaded) and all(day in p.parts for p in frozen)
    assert all(p.stat().st_nlink > 1 for p in frozen)  # hard links, no second copy

    node = tmp_path / "node"
    node.mkdir()
    for version in ("2.11.2", "3.6.1"):
        got = oracle(version, ONE_OFFLINE, home=node, args={
            "dir": str(dest), "eid": eid, "subject": row["subject"]})
        assert set(got["eids"]) <= set(before) and eid in got["eids"]
        assert got["n_trials"] > 0
