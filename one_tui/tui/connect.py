"""How the app gets its engine: opened inside a worker thread, so pandas is imported after
frame 1.

A Connector holds what the command line and ONE's settings said; ``open()`` runs in the
``connect`` worker. The demo variant starts the synthetic Alyx on loopback first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from one_tui.engine import EngineService


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
    #: the release tag asked for (None: the one last used on this database, else full)
    tag: str | None = None
    # a --cache-dir that does not exist yet: the app asks before `One` creates it (a typo)
    ask_create: Path | None = None
    prepare: Callable[[Connector], None] | None = None
    #: (URL, Basic login) of the data server when not ONE's settings' (the demo's own)
    data_server: tuple[str, tuple[str, str] | None] | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def open(self, username: str | None = None, password: str | None = None,
             clock: Callable[[], dt.datetime] | None = None) -> EngineService:
        """Open the engine (in a worker thread) without touching the network; the app then
        runs its connect job. Raises what `One` raises (CacheDirError, ...). ``clock``: expiry
        by the app's clock (tests inject theirs)."""
        if self.prepare is not None:
            prepare, self.prepare = self.prepare, None
            prepare(self)
        from one_tui.engine import EngineService, Mode

        password, self.password = password or self.password, None
        if not self.base_url:
            return EngineService.open(cache_dir=self.cache_dir, mode=Mode(self.mode),
                                      clock=clock, tag=self.tag, remembered=True,
                                      data_server=self.data_server)
        return EngineService.open(base_url=self.base_url, cache_dir=self.cache_dir,
                                  mode=Mode(self.mode), username=username or self.username,
                                  password=password, token=self.token, clock=clock,
                                  tag=self.tag, remembered=True, data_server=self.data_server)

    def close(self) -> None:
        """Stop what ``prepare`` started (the demo server, its temp folder)."""
        while self.cleanups:
            # any failure: a cleanup must not mask the app's exit code
            with contextlib.suppress(Exception):
                self.cleanups.pop()()


def demo_connector(n_sessions: int = 120, seed: int = 0, mode: str = "auto") -> Connector:
    """A connector that serves a synthetic database on loopback with a fresh temp cache."""

    def start(conn: Connector) -> None:
        from one_tui.demo.files import DATA_LOGIN, DemoFileServer, servable
        from one_tui.demo.server import DemoServer
        from one_tui.demo.synth import generate

        db = servable(generate(n_sessions=n_sessions, seed=seed))  # sizes and md5s served
        server = DemoServer(db)
        server.start()
        conn.cleanups.append(server.stop)
        files = DemoFileServer(db).start()  # FlatIron's stand-in: D downloads for real
        conn.cleanups.append(files.stop)
        conn.data_server = (files.url, DATA_LOGIN)
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
