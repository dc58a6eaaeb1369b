"""``L`` copies the app's search as a ONE call: ONE-api 2.11.2 and 3.6.1 run that line verbatim
on the same folder and find the same sessions (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from one_tui.demo.synth import generate
from one_tui.engine.one import One
from one_tui.tui.session_tools import one_search_line, version_note
from tests.oracles import VERSIONS

pytestmark = pytest.mark.oracle

RUN_LINE = """
from one.api import One
one = One(cache_dir=ARGS['dir'], mode='local')
emit(sorted(str(e) for e in eval(ARGS['line'], {'one': one})))
"""


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_copied_search_runs_verbatim_in_one_api(version: str, tmp_path: Path,
                                                    oracle: Any) -> None:
    db = generate(n_sessions=60, seed=4)
    folder = tmp_path / "tables"
    db.write_tables(folder)
    lab = str(db.sessions["lab"].iloc[0])
    subject = str(db.sessions["subject"].iloc[1])[:3]
    # a file in a collection: ONE 3.6.1 finds no session by a file at the session's root
    # (one-tui does; noticed in issue 18, left for the differential tests to settle)
    name = next(str(p) for p in db.datasets["rel_path"] if "/" in str(p)).split("/")[-1]
    ours = One(cache_dir=folder, mode="local")
    for terms in ({"laboratory": lab, "date_range": ["2019-01-01", None]},
                  {"subject": subject},
                  {"datasets": [name]}):
        line = one_search_line(terms, remote=False)  # what the app's L copies
        mine = sorted(str(e) for e in ours.search(**terms))
        args = {"dir": str(folder), "line": line}
        if version_note(terms) and version.startswith("2."):  # said in the toast
            failed = oracle(version, RUN_LINE, home=tmp_path, args=args, check=False)
            assert 'Invalid search term "datasets"' in failed["error"], line
            continue
        got = oracle(version, RUN_LINE, home=tmp_path, args=args)
        assert mine and got == mine, line


RUN_REMOTE = """
from one.api import ONE
one = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'], silent=True,
          cache_dir=ARGS['dir'])
emit(sorted(str(e) for e in eval(ARGS['line'], {'one': one})))
"""


@pytest.mark.real_alyx
def test_the_copied_alyx_only_search_runs_in_one_api_on_the_real_alyx(
        real_alyx: Any, tmp_path: Path, oracle: Any, home: Path) -> None:
    """The app's Alyx-only filters as L copies them (QC by name: Alyx refuses qc=10)."""
    from one_tui.engine import EngineService, Mode, SearchRequest

    service = EngineService.open(base_url=real_alyx.base_url, cache_dir=tmp_path / "ours",
                                 mode=Mode.LOCAL, username=real_alyx.username,
                                 password=real_alyx.password)
    for terms in ({"qc": 10}, {"performance_gte": 50.0}, {"histology": True},
                  {"atlas_acronym": "VISp"}):
        answer = service.search_sessions(SearchRequest(terms, alyx_only=True))
        mine = sorted(str(e) for e in answer.unwrap().index)
        line = one_search_line(terms, remote=True)
        got = oracle("3.6.1", RUN_REMOTE, home=tmp_path, args={
            "url": real_alyx.base_url, "user": real_alyx.username,
            "password": real_alyx.password, "dir": str(tmp_path / "one"), "line": line})
        assert mine and got == mine, line
