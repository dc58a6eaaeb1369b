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
