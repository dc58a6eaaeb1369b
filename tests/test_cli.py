"""The script-facing commands: what a cluster job sees on stdout and in the exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from one_tui import cli
from one_tui.cli import (
    EXIT_EXPIRED,
    EXIT_FRESH,
    EXIT_NO_FOLDER,
    EXIT_NO_TABLES,
    PASSWORD_ENV,
    build_parser,
    main,
)
from one_tui.cli import search_terms_from_args as terms_of


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "one_tui", *args], capture_output=True, text=True, timeout=60
    )


def test_flags_become_one_search_terms() -> None:
    ns = build_parser().parse_args(
        [
            "search",
            "--cache-dir",
            "x",
            "--lab",
            "mainen",
            "--lab",
            "cortexlab",
            "--date-range",
            "2019-04-01",
            "",
            "--number",
            "3",
            "--dataset-qc-lte",
            "30",
        ]
    )
    assert terms_of(ns) == {
        "laboratory": ["mainen", "cortexlab"],
        "date_range": ["2019-04-01", None],
        "number": "3",
        "dataset_qc_lte": 30,
    }


def test_app_flags_after_demo_are_kept() -> None:
    ns = build_parser().parse_args(["demo", "--theme", "ansi-dark", "--low-bandwidth"])
    assert (ns.command, ns.theme, ns.low_bandwidth) == ("demo", "ansi-dark", True)


def test_search_prints_ones_results_as_json(fixture_cache: Path) -> None:
    proc = _run("search", "--cache-dir", str(fixture_cache), "--subject", "ZM_335", "--json")
    assert proc.returncode == 0, proc.stderr
    eids = [r["eid"] for r in json.loads(proc.stdout)]
    assert eids == [
        "3473f9d2-aa5d-41a6-9048-c65d0b7ab97c",
        "dfe99506-b873-45db-bc93-731f9362e304",
    ]


def test_search_by_dataset_name_uses_the_datasets_table(fixture_cache: Path, capsys) -> None:
    assert (
        main(
            [
                "search",
                "--cache-dir",
                str(fixture_cache),
                "--datasets",
                "spikes.depths.npy",
                "--json",
            ]
        )
        == 0
    )
    eids = [r["eid"][:8] for r in json.loads(capsys.readouterr().out)]
    assert eids == ["d3372b15", "b1c968ad", "cf264653"]


def test_a_bad_search_term_is_one_line_not_a_traceback(fixture_cache: Path, capsys) -> None:
    code = main(["search", "--cache-dir", str(fixture_cache), "--date", "2024-13-01"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("one-tui: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cache_info_exit_code_says_expired_for_old_tables(fixture_cache: Path) -> None:
    proc = _run("cache-info", "--cache-dir", str(fixture_cache))
    assert proc.returncode == EXIT_EXPIRED, proc.stderr
    assert "2021-05-13" in proc.stdout  # the fixture tables' date_created
    assert "sessions" in proc.stdout and "26" in proc.stdout


def test_cache_info_exit_code_for_fresh_and_missing_tables(tmp_path: Path, capsys,
                                                          make_db) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["cache-info", "--cache-dir", str(tmp_path / "empty")]) == EXIT_NO_TABLES
    fresh = tmp_path / "fresh"
    make_db(20, 1).write_tables(fresh)
    capsys.readouterr()
    assert main(["cache-info", "--cache-dir", str(fresh), "--json"]) == EXIT_FRESH
    info = json.loads(capsys.readouterr().out)
    assert info["tables"]["sessions"]["rows"] == 20
    assert info["expired"] is False


@pytest.mark.parametrize("args", [["--help"], ["search", "--help"], ["cache-info", "--help"]])
def test_help_works(args: list[str]) -> None:
    assert _run(*args).returncode == 0


@pytest.mark.parametrize("command", ["search", "cache-info"])
def test_a_mistyped_cache_dir_is_an_error_and_creates_nothing(tmp_path: Path, capsys,
                                                              command: str) -> None:
    missing = tmp_path / "nope"
    assert main([command, "--cache-dir", str(missing)]) == EXIT_NO_FOLDER
    assert not missing.exists()
    err = capsys.readouterr().err
    assert "no such folder" in err and str(missing) in err


def test_search_without_cache_dir_uses_ones_default_database(home: Path, fixture_cache: Path,
                                                              capsys) -> None:
    from one_tui.engine import params
    params.register_database("https://alyx.example.org", cache_dir=fixture_cache,
                             make_default=True)
    assert main(["search", "--subject", "ZM_335"]) == 0
    out = capsys.readouterr().out
    assert "3473f9d2-aa5d-41a6-9048-c65d0b7ab97c" in out


def test_search_without_any_settings_says_what_to_give(home: Path, capsys) -> None:
    assert main(["search"]) == cli.EXIT_ERROR
    assert "--cache-dir or --base-url" in capsys.readouterr().err


@pytest.fixture
def demo_alyx(make_db, demo_server):
    return demo_server(make_db(20, 3))


def test_search_logs_in_with_the_password_from_the_environment(home: Path, tmp_path: Path,
                                                                demo_alyx, monkeypatch,
                                                                capsys) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "demo")
    monkeypatch.setattr(cli, "_ask_password", lambda *a: pytest.fail("asked for a password"))
    rc = main(["search", "--mode", "remote", "--base-url", demo_alyx.url, "--cache-dir",
               str(tmp_path), "--username", "demo", "--json"])
    assert rc == 0, capsys.readouterr().err
    assert len(json.loads(capsys.readouterr().out)) == 20


def test_search_asks_for_the_password_on_a_terminal(home: Path, tmp_path: Path, demo_alyx,
                                                   monkeypatch, capsys) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    asked: list[tuple] = []

    def ask(base_url: str, username: str | None) -> str:
        asked.append((base_url, username))
        return "demo"

    monkeypatch.setattr(cli, "_ask_password", ask)
    rc = main(["search", "--mode", "remote", "--base-url", demo_alyx.url, "--cache-dir",
               str(tmp_path), "--username", "demo", "--json"])
    assert rc == 0, capsys.readouterr().err
    assert asked == [(demo_alyx.url, "demo")]
    assert len(json.loads(capsys.readouterr().out)) == 20


def test_no_password_flag_on_the_command_line() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--password", "x"])


def test_password_prompt_only_on_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # a cluster job: nobody to type
    assert cli._ask_password("http://x", "me") is None


def test_cache_info_reads_like_text_and_json_keeps_iso_times(fixture_cache: Path) -> None:
    import datetime as dt

    text = _run("cache-info", "--cache-dir", str(fixture_cache)).stdout
    for machine in ("0:00:00", "False", "True", "None", "PosixPath"):
        assert machine not in text
    assert "expires after  24 h" in text and "state          expired" in text
    assert not any(c == "." for line in text.splitlines() if line.startswith("created")
                   for c in line.split("(")[0])  # no microseconds
    info = json.loads(_run("cache-info", "--cache-dir", str(fixture_cache), "--json").stdout)
    assert dt.datetime.fromisoformat(info["created_time"]).year == 2021
    assert info["expired"] is True and info["cache_expiry"] == 86400
