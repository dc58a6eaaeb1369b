"""How the thread workers reach the screen: job phases, notices, errors and the engine's
``cache_info()``, folded into the one state (``StatusState``) that the status line and the cache
pane are drawn from.

Its own module because every worker uses it and none owns it: the search, details and job
workers call ``_progress``, ``_show_notices``, ``_record_error`` and ``_post_state``, and the
clock's tick redraws from here. A mixin of :class:`one_tui.tui.app.OneApp`; the one
``Worker.StateChanged`` handler stays in the app (``@on`` handlers register on Textual classes
only).
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from textual import work
from textual.worker import WorkerState

from one_tui.tui.cache_pane import CachePane
from one_tui.tui.formatting import fmt_size, one_line
from one_tui.tui.messages import CacheInfoReady, JobProgress
from one_tui.tui.status import StatusLine

PROGRESS_EVERY = 0.25  # seconds between progress messages (toolong's batching)


class WorkerPlumbing:
    """Mixin for the App: the one state drawn, and what workers post into it."""

    def _render_status(self) -> None:
        """Status line and cache pane from the one state and the clock (each repaints only
        when its text changed)."""
        s = self.status
        s.bypass = self.bypass_rest
        s.busy = self._busy_text()
        now = self.clock()
        self.query_one(StatusLine).render_state(s, now)
        cache = self.query_one(CachePane)
        if self.cache_info and cache.display:  # a hidden pane is drawn when it is shown
            cache.show(self.cache_info, now, self.bypass_rest)

    def _tick(self) -> None:
        self._render_status()

    def _busy_text(self) -> str:
        names = {w.group for w in self.workers if w.state in (WorkerState.PENDING,
                                                               WorkerState.RUNNING)}
        labels = {"connect": "connecting", "search": "searching", "details": "loading details",
                  "refresh": "refreshing", "export": "exporting", "mode": "switching mode",
                  "rest": "clearing REST cache", "login": "logging in",
                  "preload": "loading datasets"}
        return ", ".join(self._job_phase.get(g) or labels[g] for g in sorted(names)
                         if g in labels)

    def _progress(self, group: str) -> Callable[[str, int | None, int | None], None]:
        """A job's ``on_progress``: its phase in the status line (bytes at most every 0.25 s),
        e.g. "asking Alyx for newer tables", "downloading 3.4 MB / 8.7 MB"."""
        self._job_phase.pop(group, None)  # a late phase of the group's previous job
        last = [0.0, ""]

        def on_progress(phase: str, done: int | None, total: int | None) -> None:
            now = time.monotonic()
            if phase == last[1] and now - last[0] < PROGRESS_EVERY:
                return
            last[0], last[1] = now, phase
            text = phase
            if done is not None:
                text = f"{phase} {fmt_size(done)}" + (f" / {fmt_size(total)}" if total else "")
            self.post_message(JobProgress(group, f"{text} — esc cancels"))

        return on_progress

    def on_job_progress(self, message: JobProgress) -> None:
        self._job_phase[message.group] = message.text
        self._render_status()

    def _show_notices(self, notices: Iterable[str], skip: str | None = None) -> None:
        """Toasts for the notices a call returned (each once; ``skip`` is said elsewhere)."""
        for note in dict.fromkeys(notices):
            if not skip or note not in skip:
                self.notify(note, severity="warning", timeout=8)

    def _record_error(self, group: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception(exc))
        self.last_error = (f"{group}: {one_line(exc)}", detail)
        self.notify(f"{one_line(exc)}  (x: details)", title=group, severity="error")

    def _rest_context(self, one: Any) -> contextlib.AbstractContextManager:
        """Inside this block the REST cache is bypassed when the user toggled it (b)."""
        if self.bypass_rest and getattr(one, "alyx", None) is not None:
            from one_tui.engine.remote.client import no_cache

            return no_cache(one.alyx)
        return contextlib.nullcontext()

    def _post_state(self, one: Any) -> None:
        """From a worker: post a fresh cache_info() (the engine half of the app's state).
        Notices are not here: each call returns its own (``Answer`` / ``Outcome``)."""
        info = one.cache_info()
        self.post_message(CacheInfoReady(info, bool(one.offline), None))

    @work(thread=True, exclusive=True, group="state", exit_on_error=False,
          description="cache info")
    def _refresh_state(self) -> None:
        self._post_state(self.one)

    def on_cache_info_ready(self, message: CacheInfoReady) -> None:
        info = message.info
        self.cache_info = info
        s = self.status
        s.mode, s.requested_mode = info.get("mode", "?"), info.get("requested_mode")
        s.fallback_reason = info.get("fallback_reason")
        s.online = not message.offline
        s.rest_enabled = bool((info.get("rest_cache") or {}).get("enabled", True))
        s.created_time = info.get("created_time")
        s.loaded_time = info.get("loaded_time")
        s.cache_expiry = info.get("cache_expiry")
        s.last_source = message.last_source or s.last_source
        # drawn on news even when hidden (the tick redraws only a shown pane: an idle screen
        # with the pane hidden must not repaint every second)
        self.query_one(CachePane).show(info, self.clock(), self.bypass_rest)
        filters = self._filters_pane()
        if filters is not None:
            filters.set_remote(info.get("mode") == "remote")
        self._render_status()
