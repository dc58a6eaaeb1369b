"""How the app gets its `One`: built inside a worker thread, so pandas is imported after frame 1.

A Connector holds what the command line and ONE's settings said; ``connect()`` runs in the
``connect`` worker. The demo variant starts the synthetic Alyx on loopback first.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Connector:
    """Arguments for `One`; a password given here is used once and then dropped."""

    base_url: str | None = None
    cache_dir: Path | None = None
    mode: str = "auto"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    login_hint: str | None = None
    label: str = ""
    # a --cache-dir that does not exist yet: the app asks before `One` creates it (a typo)
    ask_create: Path | None = None
    prepare: Callable[[Connector], None] | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def connect(self, username: str | None = None, password: str | None = None) -> Any:
        """Build `One` (in a worker thread) without touching the network; the app then runs its
        ``connect()`` job. Raises what `One` raises (CacheDirError, ...)."""
        if self.prepare is not None:
            prepare, self.prepare = self.prepare, None
            prepare(self)
        from one_tui.engine.one import One

        password, self.password = password or self.password, None
        # no network here: the app runs ``one.connect()`` as a job (phases, cancel, outcome)
        kwargs: dict[str, Any] = {"mode": self.mode, "silent": True, "connect": False}
        if self.cache_dir is not None:
            kwargs["cache_dir"] = self.cache_dir
        if self.base_url:
            kwargs.update(base_url=self.base_url, username=username or self.username,
                          password=password, token=self.token)
        return One(**kwargs)

    def close(self) -> None:
        """Stop what ``prepare`` started (the demo server, its temp folder)."""
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception:  # noqa: BLE001 - cleanup must not mask the app's exit code
                pass


def demo_connector(n_sessions: int = 120, seed: int = 0, mode: str = "auto") -> Connector:
    """A connector that serves a synthetic database on loopback with a fresh temp cache."""

    def start(conn: Connector) -> None:
        from one_tui.demo.server import DemoServer
        from one_tui.demo.synth import generate

        server = DemoServer(generate(n_sessions=n_sessions, seed=seed))
        server.start()
        conn.cleanups.append(server.stop)
        conn.base_url = server.url
        conn.label = f"demo Alyx at {server.url}"
        # The demo server is ours: hand its token over instead of logging in, because a login
        # saves the token in ~/.one (.127.0.0.1_<port>, a new file on every run) and the demo
        # must not touch the user's ONE settings.
        conn.token = server.token_for(conn.username or "demo")
        conn.password = None

    folder = Path(tempfile.mkdtemp(prefix="one-tui-demo-"))
    conn = Connector(cache_dir=folder, mode=mode, username="demo", password="demo",
                     login_hint="demo database: username demo, password demo",
                     label="demo Alyx", prepare=start)
    conn.cleanups.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    return conn
