"""The subject view (S) and the counts panel (c) against the demo Alyx (issue 19): what the
plots show equals the server's records, local mode says what it lacks, escape stops the reads
and the app answers keys, and enter on a count narrows the search."""

from __future__ import annotations

from typing import Any

import httpx
from textual.widgets import Input, OptionList, Static

from one_tui.tui.app import OneApp
from one_tui.tui.screens.counts import CountsScreen
from one_tui.tui.screens.main import MainScreen
from one_tui.tui.screens.subject import SubjectScreen
from one_tui.tui.widgets import history_plot as hp
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import settle

WIDE = (160, 48)


def server_records(server: Any, eids: list[str]) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=server.url) as client:
        token = client.post("/auth-token", data={"username": "demo", "password": "demo"}
                            ).json()["token"]
        client.headers["Authorization"] = f"Token {token}"
        return {e: client.get(f"/sessions/{e}").json() for e in eids}


def first_row_subject(app: OneApp) -> str:
    row = app.query_one(ResultsPane).row_dict()
    assert row is not None
    return str(row["subject"])


async def open_subject(app: OneApp, pilot: Any) -> SubjectScreen:
    await pilot.press("2")  # the sessions pane, the cursor on the first row
    await pilot.press("S")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, SubjectScreen)
    return screen


def status(screen: SubjectScreen) -> str:
    return str(screen.query_one("#subject-status", Static).render())


async def test_subject_view_plots_what_the_servers_records_say(make_app, server, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        nickname = first_row_subject(app)
        screen = await open_subject(app, pilot)
        history = screen.history
        assert history is not None and screen.final and history.lacking is None
        assert screen.query_one("#subject-plots").display  # plots, not the table
        assert screen.query_one("#subject-trials").display
        points = hp.plot_points(history)
        assert sorted(p["eid"] for p in points) == sorted(
            db.sessions.index[db.sessions["subject"] == nickname])
        records = server_records(server, [p["eid"] for p in points])
        for p in points:
            rec = records[p["eid"]]
            assert p["n_trials"] == rec["n_trials"]
            expected = (round(100 * rec["n_correct_trials"] / rec["n_trials"], 1)
                        if rec["n_trials"] and rec["n_correct_trials"] is not None else None)
            assert p["performance"] == expected
        assert "records: Alyx" in status(screen)
        await pilot.press("c")
        copied = app.clipboard
        assert copied.startswith("date,number,eid,task_protocol,stage,n_trials")
        assert f"one.search(subject={nickname!r}, details=True)" in copied
        assert len(copied.split("\n\n")[0].splitlines()) == len(points) + 1
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_local_mode_says_performance_needs_alyx(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "f2")  # local mode
        await settle(app, pilot)
        start = len(server.requests)
        screen = await open_subject(app, pilot)
        assert "performance needs Alyx" in status(screen)
        assert screen.history is not None and not screen.history.has_performance
        assert not screen.query_one("#subject-trials").display
        assert not [r for r in server.requests[start:] if "/sessions/" in r]
        assert "protocol:" in str(screen.query_one("#subject-protocols", Static).render())


async def test_a_narrow_terminal_gets_the_table(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=(44, 24)) as pilot:
        await settle(app, pilot)
        screen = await open_subject(app, pilot)
        assert not screen.query_one("#subject-plots").display
        assert screen.query_one("#subject-table").display
        text = str(screen.query_one("#subject-table-text", Static).render())
        assert len(text.splitlines()) == len(screen.history.sessions) + 1


async def test_escape_mid_fetch_stops_the_reads_and_the_app_answers(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        server.faults.latency = 0.3
        server.faults.paths = ("/sessions/",)
        await pilot.press("2", "S")
        screen = app.screen
        assert isinstance(screen, SubjectScreen)
        for _ in range(200):  # until the reads run (the tables' timeline is drawn)
            await pilot.pause(0.02)
            if "reading session records" in status(screen):
                break
        assert screen.fetching
        await pilot.press("escape")
        assert not screen.fetching and isinstance(app.screen, SubjectScreen)
        for _ in range(200):  # the reads in flight end; what arrived is drawn
            await pilot.pause(0.02)
            if screen.final:
                break
        assert screen.history is not None and screen.history.fetched < len(
            screen.history.sessions)
        assert "cancelled" in status(screen)
        await pilot.press("escape")  # the app answers the next key at once
        assert isinstance(app.screen, MainScreen)
        server.faults.reset()


async def test_counts_equal_value_counts_and_enter_narrows_the_search(make_app, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        table = app.query_one(ResultsPane).full
        frame = table.to_pandas()
        await pilot.press("2", "c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CountsScreen)
        for column in ("lab", "subject", "task_protocol"):
            got = {r.value: r.sessions for r in screen.counts.by[column]}
            expected = frame[column].replace("", None).dropna().value_counts().to_dict()
            assert {k: v for k, v in got.items() if k != "(none)"} == expected
        assert sum(n for _, n in screen.counts.timeline) == len(frame)
        # enter on the second subject row narrows the search to that subject
        options = screen.query_one(OptionList)
        ident = "subject:1"
        field, value = screen._values[ident]
        options.highlighted = options.get_option_index(ident)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.query_one("#f-subject", Input).value == f"^{value}$"
        shown = app.query_one(ResultsPane).full.to_pandas()
        assert len(shown) == int((db.sessions["subject"] == value).sum()) > 0
        assert set(shown["subject"]) == {value}


async def test_with_a_dataset_filter_counts_have_dataset_qc_and_enter_narrows_by_it(
        make_app, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one("#f-datasets", Input).value = "_ibl_leftCamera.dlc.pqt"
        app.query_one("#f-lab", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        found = app.query_one(ResultsPane).full.to_pandas()
        app.query_one(ResultsPane).table.focus()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CountsScreen)
        ds = db.datasets.reset_index()
        ds = ds[ds["eid"].isin(found["eid"]) & ds["exists"]
                & ds["rel_path"].str.endswith("/_ibl_leftCamera.dlc.pqt")]
        expected = ds.drop_duplicates(["eid", "qc"])["qc"].astype(str).value_counts()
        got = {r.value: r.sessions for r in screen.counts.by["dataset_qc"]}
        assert got == expected[expected > 0].to_dict()
        ident = next(i for i, (f, _v) in screen._values.items() if f == "dataset_qc"
                     and _v == "PASS")
        options = screen.query_one(OptionList)
        options.highlighted = options.get_option_index(ident)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.query_one("#f-dataset_qc", Input).value == "PASS"
        narrowed = app.query_one(ResultsPane).full.to_pandas()
        within = ds[ds["qc"].astype(str).isin(["NOT_SET", "PASS"])]  # QC <= PASS
        assert set(narrowed["eid"]) == set(within["eid"]) and len(narrowed) < len(found)


async def test_the_plots_are_drawn_at_80x24_in_ansi_dark(make_app) -> None:
    """The smallest terminal the app supports, in the 16-colour theme: plots, not the table,
    and the plot's own text (its title, the date labels) is on screen."""
    app = make_app(mode="auto", theme="ansi-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.theme == "ansi-dark"
        screen = await open_subject(app, pilot)
        assert screen.query_one("#subject-plots").display
        assert not screen.query_one("#subject-table").display
        from textual_plotext import PlotextPlot

        perf = screen.query_one("#subject-perf", PlotextPlot)
        assert perf.size.height >= 5 and perf.size.width == 80
        drawn = "\n".join(line.text for line in perf.render_lines(perf.region.reset_offset))
        first = screen.history.sessions[0].date.isoformat()[2:]
        assert "% correct" in drawn and first in drawn
