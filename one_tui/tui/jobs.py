"""The long jobs on the `One` object: connect, log in, switch mode, refresh the tables, clear
the REST cache, each a thread worker whose phases show in the status line and whose end is one
toast (``TaskDone``), plus the login form they open.

Its own module because these change with the engine's jobs (``One.connect``, ``login_job``,
``refresh`` and their ``Outcome``), not with searching or the panes. A mixin of
:class:`one_tui.tui.app.OneApp`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.screen import Screen
from textual.worker import get_current_worker

from one_tui.engine.core import results as engine_outcome
from one_tui.engine.core.errors import AuthenticationError, LoginRequired
from one_tui.tui import convert
from one_tui.tui.cache_pane import CachePane, mode_line
from one_tui.tui.formatting import one_line
from one_tui.tui.messages import Connected, LoginNeeded, SuggestionsReady, TaskDone

MODES = ("local", "remote", "auto", "refresh")
JOB_GROUPS = ("connect", "login", "refresh")  # long jobs escape cancels


class Jobs:
    """Mixin for the App: connecting, logging in, modes and caches."""

    def _ask_create(self, folder: Path) -> None:
        """A --cache-dir that does not exist: create it only when the user says so."""
        from one_tui.tui.confirm import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes:
                assert self.connector is not None
                self.connector.ask_create = None
                self.call_after_refresh(self._start_connect)
            else:
                self.exit(return_code=4, message=f"one-tui: {folder} not created.")

        self.push_screen(ConfirmModal(f"The cache folder {folder} does not exist. Create it? "
                                      "(n quits: check --cache-dir)"), answered)

    def _start_connect(self, username: str | None = None, password: str | None = None) -> None:
        self.status.online = None
        self._render_status()
        self._connect(username, [password] if password else [])

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False,
          description="build One")
    def _connect(self, username: str | None, secret: list[str]) -> None:
        """Build `One` (no network), then run its connect job: log in, ask Alyx for newer
        tables, download them, each phase in the status line; escape cancels it.
        ``secret`` is emptied here: the Worker keeps its arguments, not the password."""
        assert self.connector is not None
        worker = get_current_worker()
        password = secret.pop() if secret else None
        try:
            with engine_outcome.recording() as rec:
                one = self.connector.connect(username, password)
        except LoginRequired as exc:
            self.post_message(LoginNeeded(str(exc), username or self.connector.username))
            return
        except AuthenticationError as exc:
            self.post_message(LoginNeeded("Alyx refused the login.", username,
                                          error=f"Login refused: {one_line(exc)}"))
            return
        finally:
            password = None
        if hasattr(one, "clock"):
            one.clock = self.clock  # expiry by the app's clock (tests inject theirs)
        out = None
        if callable(getattr(one, "connect", None)):
            out = one.connect(cancel=worker.cancelled_event,
                              on_progress=self._progress("connect"))
            self.status.tables_checked_at = self.clock()
        self._after_connect(one, out, [*rec.notices, *(out.notices if out else ())])

    def _after_connect(self, one: Any, out: Any = None, notices: Iterable[str] = ()) -> None:
        """Tell the app (which then searches, outside remote mode) and warm up the table code.

        The fallback reason is said once: on the login form when a password is needed (with
        Alyx's refusal as its error), else as one toast."""
        kind = getattr(out, "kind", "")
        login = self._needs_login(one) or kind in ("login-needed", "login-refused")
        error = (f"Login refused: {out.detail or out.message}" if kind == "login-refused"
                 else None)
        cancelled = out.message if kind == "cancelled" else None
        self.post_message(Connected(one, login_needed=login, reason=one.fallback_reason,
                                    error=error, cancelled=cancelled))
        self._show_notices(notices, skip=one.fallback_reason)
        self._post_state(one)
        if login or one.mode == "remote" or not self.initial_search:
            self._post_suggestions(one)  # otherwise the first (unfiltered) search feeds them
        import textual_fastdatatable.data_table  # noqa: F401 - imported here, not on the UI

    @staticmethod
    def _needs_login(one: Any) -> bool:
        alyx = getattr(one, "alyx", None)
        reason = (one.fallback_reason or "").lower()
        return alyx is not None and not alyx.is_logged_in and ("login" in reason
                                                               or "password" in reason)

    def _post_suggestions(self, one: Any) -> None:
        with engine_outcome.recording():  # its notices (none expected) are not anyone's toast
            try:
                df = one.search_sessions(query_type="local")
            except Exception:  # noqa: BLE001 - no tables yet: no suggestions, not an error
                return
        self.post_message(SuggestionsReady(convert.suggestions(df)))

    def on_connected(self, message: Connected) -> None:
        self.one = message.one
        if self.connector and self.connector.base_url and not self.connector.label:
            self.connector.label = self.connector.base_url
        self._render_topbar()
        if self.connector and self.connector.login_hint and not message.login_needed:
            self.notify(f"{self.connector.label}: {self.connector.login_hint}", timeout=8)
            self.connector.login_hint = None  # said once
        if message.cancelled:
            self.notify(f"Connecting: {message.cancelled}", severity="warning", timeout=8)
        if message.reason and not message.login_needed:  # the login form says it otherwise
            self.notify(message.reason, severity="warning", timeout=8)
        if message.login_needed:
            self._ask_login(message.reason or "Alyx needs a password.", error=message.error)
        elif self.initial_search and message.one.mode != "remote" and not self.searching:
            self.action_search()

    def on_login_needed(self, message: LoginNeeded) -> None:
        self._ask_login(message.reason, message.username, message.error)

    def _ask_login(self, reason: str, username: str | None = None, error: str | None = None
                   ) -> None:
        from one_tui.tui.login import LoginModal

        conn = self.connector
        user = username or (conn.username if conn else None)
        base = conn.base_url if conn else None
        hint = conn.login_hint if conn else None
        self.push_screen(LoginModal(reason, base, user, hint=hint, error=error), self._on_login)

    def _ask_login_once(self, reason: str) -> None:
        """A call mid-session found the token revoked or no password: the login form, once."""
        from one_tui.tui.login import LoginModal

        if not isinstance(self.screen, LoginModal):
            self._ask_login(reason)

    def _on_login(self, result: tuple[str, str] | None) -> None:
        if result is None:
            self.notify("Staying offline: local tables only.", severity="warning")
            if self.one is not None and self.initial_search and not self.searching:
                self.action_search()  # show the tables on disk, as a start without Alyx does
            return
        username, password = result
        if self.one is None:
            self._start_connect(username, password)
        else:
            self._login(username, [password])

    @work(thread=True, exclusive=True, group="login", exit_on_error=False, description="log in")
    def _login(self, username: str, secret: list[str]) -> None:
        one = self.one
        worker = get_current_worker()
        password = secret.pop()
        try:
            with engine_outcome.recording() as rec:
                if callable(getattr(one, "login_job", None)):
                    out = one.login_job(username, password, cancel=worker.cancelled_event,
                                        on_progress=self._progress("login"))
                    self.status.tables_checked_at = self.clock()
                else:
                    out = one.login(username, password)
        except (AuthenticationError, LoginRequired) as exc:
            self.post_message(LoginNeeded("Alyx refused the login.", username,
                                          error=f"Login refused: {one_line(exc)}"))
            return
        finally:
            password = ""
        self.post_message(TaskDone(f"Logged in as {username}; mode {one.mode}", "login"))
        self._after_connect(one, out, rec.notices)

    def action_start_demo(self) -> None:
        """From the set-up screen: serve the synthetic database and connect to it."""
        if self.demo_factory is None:
            from one_tui.tui.connect import demo_connector

            self.demo_factory = demo_connector
        self.connector = self.demo_factory()
        if isinstance(self.screen, Screen) and self.screen is not self.screen_stack[0]:
            self.pop_screen()
        self.notify("Starting the demo Alyx on this machine…")
        self._start_connect()

    def action_cycle_mode(self) -> None:
        current = self.one.requested_mode if self.one is not None else "auto"
        nxt = MODES[(MODES.index(current) + 1) % len(MODES)] if current in MODES else "auto"
        self.action_set_mode(nxt)

    def action_set_mode(self, mode: str) -> None:
        if self.one is None:
            self.notify("Not connected yet.", severity="warning")
            return
        self._set_mode(mode)

    @work(thread=True, exclusive=True, group="mode", exit_on_error=False, description="mode")
    def _set_mode(self, mode: str) -> None:
        one = self.one
        with engine_outcome.recording() as rec:
            one.mode = mode
        self._show_notices(rec.notices)
        self._post_state(one)
        info = one.cache_info()
        self.post_message(TaskDone(f"Mode: {mode_line(info)}", "mode"))

    def action_refresh(self) -> None:
        self._refresh("auto")

    def action_force_refresh(self) -> None:
        self._refresh("refresh")

    def _refresh(self, how: str) -> None:
        if self.one is None:
            self.notify("Not connected yet.", severity="warning")
            return
        self._refresh_worker(how)

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False,
          description="refresh cache tables")
    def _refresh_worker(self, how: str) -> None:
        """``r`` / ``R`` as a job: its phases in the status line, escape cancels, and the toast
        says what happened (not expired: Alyx not asked / nothing newer / new tables from
        <time> / unreachable: why)."""
        one = self.one
        worker = get_current_worker()
        out = one.refresh(how, cancel=worker.cancelled_event,
                          on_progress=self._progress("refresh"))
        self.status.tables_checked_at = self.clock()
        verb = "Forced refresh" if how == "refresh" else "Refresh"
        severity = "warning" if out.failed or out.kind == "cancelled" else "information"
        kind = "tables-replaced" if out.replaced else "refresh"
        self.post_message(TaskDone(f"{verb}: {out.message}", kind, severity))
        self._show_notices(out.notices, skip=out.message)
        if out.asked_alyx:
            self.call_from_thread(setattr, self.status, "unreachable",
                                  out.kind == "unreachable")
        self._post_state(one)
        self._post_suggestions(one)

    def action_toggle_bypass(self) -> None:
        self.bypass_rest = not self.bypass_rest
        state = "bypassed for the following queries" if self.bypass_rest else "used again"
        self.notify(f"REST cache {state}")
        if self.cache_info:
            self.query_one(CachePane).show(self.cache_info, self.clock(), self.bypass_rest)
        self._render_status()

    def action_clear_rest_cache(self) -> None:
        if self.one is None or getattr(self.one, "alyx", None) is None:
            self.notify("No REST cache: not connected to Alyx.", severity="warning")
            return
        from one_tui.tui.confirm import ConfirmModal

        rest = self.cache_info.get("rest_cache") or {}
        question = (f"Delete the REST cache ({rest.get('entries', '?')} responses) in "
                    f"{self.cache_info.get('cache_dir', '?')}/.rest ?")
        self.push_screen(ConfirmModal(question), self._on_clear_confirmed)

    def _on_clear_confirmed(self, yes: bool | None) -> None:
        if yes:
            self._clear_rest()

    @work(thread=True, exclusive=True, group="rest", exit_on_error=False,
          description="clear REST cache")
    def _clear_rest(self) -> None:
        one = self.one
        one.alyx.clear_rest_cache()
        self.post_message(TaskDone("REST cache cleared", "rest"))
        self._post_state(one)

    def on_task_done(self, message: TaskDone) -> None:
        self.notify(message.text, severity=message.severity)  # type: ignore[arg-type]
        if message.kind == "tables-replaced" and not self.searching and self.one is not None:
            self.action_search()  # the rows on screen came from the old tables
