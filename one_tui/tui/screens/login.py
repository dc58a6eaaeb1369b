"""The login modal (username and a masked password, sent once to Alyx and then forgotten) and
the flow that asks for it (:class:`LoginFlow`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from one_tui.tui.inert import inert
from one_tui.tui.widgets.inputs import QuietInput

if TYPE_CHECKING:
    from one_tui.engine import EngineService
    from one_tui.tui.connect import Connector
    from one_tui.tui.state import AppState


class LoginModal(ModalScreen[tuple[str, str] | None]):
    """Dismisses with (username, password) or None (escape: stay offline, in local mode)."""

    BINDINGS = [Binding("escape", "cancel", "Stay offline", id="login_cancel")]

    def __init__(self, reason: str, base_url: str | None, username: str | None = None,
                 hint: str | None = None, error: str | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.base_url = base_url
        self.username = username or ""
        self.hint = hint
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box", classes="modal-box"):
            yield Static(inert(f"{self.base_url or 'Alyx'} needs a login."), markup=False)
            yield Static(inert(self.reason), markup=False, classes="dim")
            yield Static("username")
            yield QuietInput(self.username, id="login-username")
            yield Static("password")
            yield QuietInput(password=True, id="login-password")
            yield Static(inert(self.error or ""), id="login-error",
                         classes="field-error" + (" -shown" if self.error else ""),
                         markup=False)
            yield Static(self.hint or "enter log in · esc stay offline (local tables)",
                         classes="hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#login-box").border_title = "Log in to Alyx"
        target = "#login-password" if self.username else "#login-username"
        self.query_one(target, Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "login-username":
            self.query_one("#login-password", Input).focus()
            return
        username = self.query_one("#login-username", Input).value.strip()
        password_input = self.query_one("#login-password", Input)
        password = password_input.value
        password_input.value = ""  # not kept on screen or in the widget after this
        if not username or not password:
            self.query_one("#login-error", Static).update("username and password are needed")
            self.query_one("#login-error").set_class(True, "-shown")
            return
        self.dismiss((username, password))

    def action_cancel(self) -> None:
        self.query_one("#login-password", Input).value = ""
        self.dismiss(None)


class LoginHost(Protocol):
    """What the login flow uses of the app (``OneApp``)."""

    connector: Connector | None
    initial_search: bool

    @property
    def service(self) -> EngineService | None: ...
    @property
    def state(self) -> AppState: ...
    def start_connect(self, username: str | None = None, password: str | None = None
                      ) -> None: ...
    def start_login(self, service: EngineService, username: str, password: str) -> None: ...
    def search_tables(self) -> None: ...


class LoginFlow:
    """When and how the app asks for a login (or for a cache folder to be created), and what
    an answer starts: the connect job when no engine is open yet, else the login job.
    Composed into the app as ``DataFlow`` is into the main screen."""

    def __init__(self, app: App[Any], host: LoginHost) -> None:
        self.app = app
        self.host = host

    def ask_create(self, folder: Path) -> None:
        """A --cache-dir that does not exist: create it only when the user says so."""
        from one_tui.tui.screens.confirm import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes and self.host.connector is not None:
                self.host.connector.ask_create = None
                self.app.call_after_refresh(self.host.start_connect)
            else:
                self.app.exit(return_code=4, message=f"one-tui: {folder} not created.")

        self.app.push_screen(ConfirmModal(f"The cache folder {folder} does not exist. Create "
                                          "it? (n quits: check --cache-dir)"), answered)

    def ask(self, reason: str, username: str | None = None, error: str | None = None) -> None:
        conn = self.host.connector
        user = username or (conn.username if conn else None)
        base = conn.base_url if conn else None
        hint = conn.login_hint if conn else None
        self.app.push_screen(LoginModal(reason, base, user, hint=hint, error=error),
                             self.answered)

    def ask_once(self, reason: str) -> None:
        """A call mid-session found the token revoked or no password: the form, once."""
        if not isinstance(self.app.screen, LoginModal):
            self.ask(reason)

    def answered(self, result: tuple[str, str] | None) -> None:
        service = self.host.service
        if result is None:
            self.app.notify("Staying offline: local tables only.", severity="warning")
            if (service is not None and self.host.initial_search
                    and not self.host.state.search.running):
                self.host.search_tables()  # the tables on disk, as a start without Alyx
            return
        username, password = result
        if service is None:
            self.host.start_connect(username, password)
        else:
            self.host.start_login(service, username, password)
