"""SVG snapshots of the main screen, details, cache pane, help and an error, at 80x24 and 160x48.

Regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update`` (Textual is pinned);
scripts/screenshots.py writes the same pictures into screenshots/.
"""

from __future__ import annotations

import pytest

from tests.tui.snapshot_apps import SCENES, SIZES, build_app, start_server


def test_two_snapshot_runs_on_one_machine_do_not_collide() -> None:
    """Two runs at once (two engineers, CI and a laptop) get their own port and folders."""
    with start_server() as first, start_server() as second:
        assert first.url != second.url
        a, b = build_app(first, "main-narrow"), build_app(second, "main-narrow")
        assert a.connector.cache_dir != b.connector.cache_dir
        assert first.root.exists() and second.root.exists()
    assert not first.root.exists() and not second.root.exists()


@pytest.fixture(scope="module")
def snapshot_server():
    server = start_server()
    yield server
    server.stop()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("scene", list(SCENES))
def test_snapshot(snap_compare, snapshot_server, scene: str, size: str) -> None:
    app = build_app(snapshot_server, f"{scene}-{size}")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=SCENES[scene])


def test_snapshot_ansi_dark_narrow(snap_compare, snapshot_server) -> None:
    """--theme ansi-dark: the terminal's own 16 colours (cheapest over SSH)."""
    app = build_app(snapshot_server, "ansi-narrow", theme="ansi-dark")
    assert snap_compare(app, terminal_size=SIZES["narrow"], run_before=SCENES["details"])
