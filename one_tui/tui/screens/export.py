"""The export modal: where to write the results; CSV or Parquet from the file extension."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from one_tui.tui.export import export_format
from one_tui.tui.screens.modal import CloseableModal
from one_tui.tui.widgets.inputs import QuietInput


class ExportModal(CloseableModal):
    """Dismisses with (path, format) once the path has a known extension."""

    def __init__(self, default_path: str, n_rows: int) -> None:
        super().__init__()
        self.default_path = default_path
        self.n_rows = n_rows

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="modal-box"):
            noun = "session" if self.n_rows == 1 else "sessions"
            yield Static(f"Write {self.n_rows:,} {noun} to (.csv, .pqt or .parquet):")
            yield QuietInput(self.default_path, id="export-path")
            yield Static(target_line(self.default_path), id="export-target", markup=False)
            yield Static("", id="export-error", classes="field-error")
            yield Static("enter write · esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#export-box").border_title = "Export results"
        self.query_one("#export-path", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#export-target", Static).update(target_line(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        fmt = export_format(path)
        if not path or fmt is None:
            error = self.query_one("#export-error", Static)
            error.update("the file name must end in .csv, .pqt or .parquet")
            error.set_class(True, "-shown")
            return
        self.dismiss((str(Path(path).expanduser()), fmt))


def target_line(value: str) -> str:
    """The file that will be written, folder included, before anything is: a bare name goes
    into the folder one-tui was started in, which a user over SSH may not have in mind."""
    path = value.strip()
    if not path:
        return ""
    return f"→ {Path(path).expanduser().absolute()}"
