"""From browsing to loading: the ONE line that fits, and what is on this disk."""

from __future__ import annotations

from typing import Any

import pytest

from one_tui.engine.local import ondisk
from one_tui.text import fmt_size
from one_tui.tui.screens.load import LoadModal, alf_object
from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import settle
from tests.tui.test_table_view import screen_text

WIDE = (160, 48)
NARROW = (80, 24)


def test_alf_object_of_a_file_name() -> None:
    assert alf_object("_ibl_trials.table.pqt") == "trials"
    assert alf_object("spikes.times.npy") == "spikes"
    assert alf_object("_iblrig_taskData.raw.jsonable") == "taskData"


async def _open_session(app: Any, pilot: Any, eid: str) -> None:
    """Find the session's row and open its details (enter)."""
    results = app.query_one(ResultsPane)
    row = next(i for i in range(results.row_count) if results.eid_at(i) == eid)
    results.table.focus()
    results.table.move_cursor(row=row)
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)


def _lines(app: Any) -> list[str]:
    assert isinstance(app.screen, LoadModal)
    return [line for line, _ in app.screen.lines]


def _eids(db: Any, with_trials: bool) -> str:
    d = db.datasets
    has = set(d.index.get_level_values("eid")[d.rel_path.str.contains("_ibl_trials").values])
    return next(str(e) for e in db.sessions.index if (e in has) == with_trials)


@pytest.mark.parametrize("with_trials", [True, False])
async def test_o_offers_the_lines_that_fit_the_session(make_app, db, with_trials: bool) -> None:
    eid = _eids(db, with_trials)
    app = make_app()
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        await _open_session(app, pilot, eid)
        await pilot.press("o")
        await pilot.pause()
        lines = _lines(app)
        rel_paths = [str(r) for r in db.datasets.loc[eid].rel_path]
        assert f"one.load_dataset('{eid}', '{rel_paths[0]}')" in lines
        trials = f"one.load_object('{eid}', 'trials', collection='alf')"
        assert (trials in lines) is with_trials  # never offered for a session without trials
        base, folder = app.state.engine.base_url, str(app.state.engine.cache_dir)
        assert (f"from one.api import ONE; one = ONE(base_url='{base}', cache_dir='{folder}')"
                == lines[0])
        await pilot.press("end", "enter")
        await pilot.pause()
        assert app.clipboard == lines[-1] and app.clipboard.startswith("one.load_dataset(")


async def test_the_toast_never_breaks_a_uuid_at_80_columns(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await settle(app, pilot)
        eid = app.query_one(ResultsPane).eid_at()
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("o", "down", "enter")
        await pilot.pause()
        assert app.clipboard.startswith(f"one.load_object('{eid}'")
        from textual.widgets._toast import Toast

        toast = app.screen.query(Toast).last()
        region = toast.region
        lines = screen_text(app).splitlines()[region.y:region.bottom]
        in_toast = "\n".join(line[region.x:region.right] for line in lines)
        assert "ONE line sent to the clipboard" in in_toast  # sent, not "Copied" (#18)
        assert eid in in_toast  # on one line, whole


async def test_details_say_which_files_are_on_this_disk(make_app, db) -> None:
    eid = _eids(db, True)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        session = db.sessions.loc[eid].to_dict()
        mine = db.datasets.loc[eid].reset_index()
        # the smallest default-revision file, written with the table's size (another size is
        # damaged, not on disk: tests/tui/test_details_marks.py)
        first = mine[mine.default_revision].sort_values("file_size").iloc[0]
        here = app.state.engine.cache_dir / str(ondisk.session_path(session)) / first.rel_path
        here.parent.mkdir(parents=True, exist_ok=True)
        here.write_bytes(b"x" * int(first.file_size))
        await _open_session(app, pilot, eid)
        text = str(app.query_one("#details-body").render())
        shown = app.query_one(DetailsPane)
        assert shown.border_title.startswith("Details")
        n_default = int(mine.default_revision.sum())
        assert (f"on this disk   1 of {n_default} datasets, {fmt_size(first.file_size)} of"
                in text)
        name = first.rel_path.split("/")[-1][:30]  # a long name is cut with "…"
        line = next(x for x in text.splitlines() if name in x and "on disk" in x)
        assert line.rstrip().endswith("on disk")
        others = [x for x in text.splitlines() if x.rstrip().endswith("not here")]
        assert len(others) == len(mine) - 1
