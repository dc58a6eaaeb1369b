"""Several databases in one ~/.one: the demo and the real Alyx, switched back and forth as the
database picker does (a new engine on the other database each time), with each database's
tables, REST cache and token landing in its own place only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from one_tui.demo.server import DemoServer
from one_tui.engine import EngineService, SearchRequest, params
from tests.real_alyx.conftest import Server

pytestmark = pytest.mark.real_alyx


def _ids(folder: Path) -> set[str]:
    return set(pd.read_parquet(folder / "sessions.pqt").index.astype(str))


def test_the_demo_and_the_real_alyx_switch_back_and_forth_each_in_its_own_folder(
        real: Server, make_db: Any, home: Path, tmp_path: Path) -> None:
    with DemoServer(make_db(30, 2)) as demo:
        dbs = {"demo": (demo.url, "demo", "demo", tmp_path / "demo"),
               "real": (real.base_url, real.username, real.password, tmp_path / "real")}
        for url, user, _pw, folder in dbs.values():
            params.register_database(url, cache_dir=folder, username=user)
        seen: dict[str, set[str]] = {}
        for _round in range(2):
            for name, (url, user, password, _folder) in dbs.items():
                service = EngineService.open(base_url=url, username=user, password=password)
                outcome = service.connect()
                assert not outcome.kind.failed, (name, outcome)
                state = service.state()
                assert state.base_url == url and state.cache_dir == dbs[name][3]
                found = service.search_sessions(SearchRequest({})).unwrap()
                assert found is not None and len(found)
                details = service.session_details(str(found.index[0]))
                assert details.error is None, details.error
                seen.setdefault(name, set()).update(str(e) for e in found.index)
                service.one.save_cache()
                service.one.alyx.close()
        assert seen["demo"].isdisjoint(seen["real"])
        assert _ids(dbs["demo"][3]) == seen["demo"]
        assert _ids(dbs["real"][3]) == seen["real"]
        listed = {d.base_url: d for d in EngineService.databases().unwrap() or ()}
        for url, user, _pw, folder in dbs.values():
            entry = listed[url]
            assert entry.cache_dir == folder and entry.username == user
            assert entry.token_saved and entry.tables_created and entry.size > 0
            assert not entry.suggested
        # each token is in its own database's settings file only
        for url, user, _pw, _folder in dbs.values():
            settings = params.get_settings(url)
            assert settings is not None and set(settings.tokens) == {user}

