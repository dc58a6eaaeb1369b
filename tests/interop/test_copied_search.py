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
