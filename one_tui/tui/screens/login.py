"""The login modal: username and a masked password, sent once to Alyx and then forgotten."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from one_tui.tui.inert import inert
from one_tui.tui.widgets.inputs import QuietInput


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
