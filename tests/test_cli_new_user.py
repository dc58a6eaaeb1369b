"""What a new user of the command line trips over (issue 18): the saved token first, the
Alyx-only flags, ``--datasets a,b``, a reversed date range, the Alyx-only filters' match rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from one_tui import cli
from one_tui.cli import PASSWORD_ENV, build_parser, main
from one_tui.cli import search_terms_from_args as terms_of


@pytest.fixture
def demo_alyx(make_db, demo_server):
    return demo_server(make_db(20, 3))


def test_a_saved_token_is_used_before_the_password_variable(home: Path, tmp_path: Path,
                                                            demo_alyx, monkeypatch,
                                                            capsys) -> None:
    """README: "a saved token from ~/.one is used first". A stale ONE_TUI_PASSWORD in a job
    script must not turn a valid saved token into a refused login and a local answer."""
    monkeypatch.setattr(cli, "_ask_password", lambda *a: pytest.fail("asked for a password"))
    args = ["search", "--mode", "remote", "--base-url", demo_alyx.url, "--cache-dir",
            str(tmp_path), "--username", "demo", "--json"]
    monkeypatch.setenv(PASSWORD_ENV, "demo")
    assert main(args) == 0  # logs in, saves the token in ~/.one
    capsys.readouterr()
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    start = len(demo_alyx.requests)
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert len(json.loads(out)) == 20
    assert "refused" not in err and "local" not in err
    assert not [r for r in demo_alyx.requests[start:] if "/auth-token" in r]


def test_alyx_only_flags_are_the_apps_alyx_only_filters() -> None:
    ns = build_parser().parse_args([
        "search", "--qc", "PASS", "--performance-gte", "50", "--performance-lte", "90",
        "--atlas-acronym", "VISp", "--histology", "--narrative", "good, clean"])
    terms = terms_of(ns)
    assert terms["qc"] == 10 and terms["histology"] is True
    assert (terms["performance_gte"], terms["performance_lte"]) == (50.0, 90.0)
    assert terms["atlas_acronym"] == "VISp"
    assert terms["django"].startswith("narrative__icontains,")  # the app's escaped clause


def test_alyx_only_flags_send_a_local_search_to_alyx(home: Path, tmp_path: Path, demo_alyx,
                                                    monkeypatch, capsys) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "demo")
    start = len(demo_alyx.requests)
    rc = main(["search", "--base-url", demo_alyx.url, "--cache-dir", str(tmp_path),
               "--username", "demo", "--qc", "PASS", "--json"])  # --mode local: the default
    out, err = capsys.readouterr()
    assert rc == 0, err
    sent = [r for r in demo_alyx.requests[start:] if "/sessions" in r]
    assert sent and "qc=PASS" in sent[0]  # the engine names it as Alyx wants
    from one_tui.engine import EngineService, Mode, SearchRequest
    svc = EngineService.open(base_url=demo_alyx.url, cache_dir=tmp_path, mode=Mode.REMOTE,
                             username="demo", password="demo")
    same = svc.search_sessions(SearchRequest({"qc": 10})).unwrap()
    assert same is not None and len(same)
    assert sorted(r["eid"] for r in json.loads(out)) == sorted(same.index)


def test_datasets_take_commas_as_the_apps_field(fixture_cache: Path, capsys) -> None:
    ns = build_parser().parse_args(["search", "--datasets", "a.npy, b.npy", "--datasets", "c"])
    assert terms_of(ns)["datasets"] == ["a.npy", "b.npy", "c"]


def test_a_reversed_date_range_is_refused_as_the_app_does(fixture_cache: Path, capsys) -> None:
    rc = main(["search", "--cache-dir", str(fixture_cache), "--date-range", "2020-01-02",
               "2019-01-01"])
    assert rc == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "before" in err and "Traceback" not in err


def test_the_help_line_for_partial_dataset_names_holds(fixture_cache: Path, capsys) -> None:
    """The app's datasets field takes exact names; the help says how to get ONE 2.x's partial
    match (the CLI's --dataset) there: it must give the same sessions."""
    from one_tui.tui.screens.help import help_text

    assert "`.*trials.*`" in help_text() and "--dataset" in help_text()
    assert main(["search", "--cache-dir", str(fixture_cache), "--dataset", "trials",
                 "--json"]) == 0
    partial = sorted(r["eid"] for r in json.loads(capsys.readouterr().out))
    assert main(["search", "--cache-dir", str(fixture_cache), "--datasets", ".*trials.*",
                 "--json"]) == 0
    field = sorted(r["eid"] for r in json.loads(capsys.readouterr().out))
    assert partial and field == partial
