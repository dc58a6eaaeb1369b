"""Start-up: set Textual's environment from the flags, THEN import Textual and run the app.

Textual reads its environment variables at import time, so nothing here imports it at module
level. pandas/pyarrow are not imported before the first frame: `One` is built in a worker.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def configure_environment(low_bandwidth: bool, theme: str | None) -> None:
    """Environment for Textual (must run before ``import textual``)."""
    if low_bandwidth:
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        os.environ.setdefault("TEXTUAL_FPS", "15")
        os.environ.setdefault("TEXTUAL_SMOOTH_SCROLL", "0")
    if theme:
        os.environ["TEXTUAL_THEME"] = theme


def make_connector(ns: argparse.Namespace) -> Any:
    """A Connector from the flags and the user's ONE settings; None means 'show the set-up'."""
    from one_tui.tui.connect import demo_connector

    if getattr(ns, "demo", False):
        return demo_connector(n_sessions=getattr(ns, "sessions", None) or 120,
                              seed=getattr(ns, "seed", None) or 0,
                              mode=getattr(ns, "mode", None) or "auto")
    base_url = getattr(ns, "base_url", None)
    cache_dir = getattr(ns, "cache_dir", None)
    missing = _missing_folder(cache_dir)
    conn = _connector(ns, base_url, cache_dir)
    if conn is not None:
        conn.ask_create = missing
        conn.tag = getattr(ns, "tag", None)
    return conn


def _missing_folder(cache_dir: str | None) -> Path | None:
    """The --cache-dir given on the command line when it does not exist (asked before use)."""
    if not cache_dir:
        return None
    folder = Path(cache_dir).expanduser().absolute()
    return None if folder.is_dir() else folder


def _connector(ns: argparse.Namespace, base_url: str | None, cache_dir: str | None) -> Any:
    """The connector for the place ONE would use (``params.resolve_place``, the one rule)."""
    from one_tui.engine import resolve_place
    from one_tui.tui.connect import Connector

    place = resolve_place(base_url, cache_dir, getattr(ns, "username", None))
    mode = getattr(ns, "mode", None) or "auto"
    if not place.base_url:
        if cache_dir:  # a folder without a database: local mode only
            return Connector(cache_dir=place.cache_dir, mode="local", label=str(cache_dir))
        return None
    settings = place.settings
    return Connector(base_url=place.base_url, cache_dir=place.cache_dir, mode=mode,
                     username=place.username,
                     password=settings.password if settings is not None else None,
                     token=place.token, label=place.base_url)


def launch(ns: argparse.Namespace) -> int:
    """Run the app for ``one-tui`` / ``one-tui demo``; returns the exit code."""
    from one_tui.tui.config import load_config

    config = load_config()
    low_bandwidth = bool(getattr(ns, "low_bandwidth", False) or config.low_bandwidth)
    theme = getattr(ns, "theme", None) or config.theme
    configure_environment(low_bandwidth, theme)
    connector = make_connector(ns)

    from one_tui.tui.app import OneApp

    app = OneApp(connector, config=config, theme=theme, low_bandwidth=low_bandwidth)
    try:
        app.run(mouse=not getattr(ns, "no_mouse", False))
    finally:
        for conn in {id(c): c for c in (connector, app.connector) if c is not None}.values():
            conn.close()
    return app.return_code or 0
