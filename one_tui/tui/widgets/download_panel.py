"""The download panel: above the status line while a download runs, whatever pane is shown.

It shows the job's whole picture (``downloads.progress_text``: a bar, bytes, rate, ETA, files
left, the files being fetched) from the latest ``DownloadProgress``; the main screen shows it
when a download starts and hides it when it ends (the toast then says what happened).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from one_tui.tui.inert import inert, inert_text

if TYPE_CHECKING:
    from one_tui.engine import FetchProgress


class DownloadPanel(Static):
    """Hidden until a download starts; one Static redrawn from each progress event."""

    DEFAULT_CSS = """
    DownloadPanel {
        display: none;
        height: auto;
        max-height: 6;
        background: $panel;
        border-top: solid $accent;
        border-title-color: $text;
    }
    DownloadPanel.-running {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__("", id=id, markup=False)
        self.what = ""
        self.progress: FetchProgress | None = None

    def start(self, what: str, files: int, size: int) -> None:
        from one_tui.text import fmt_size, plural

        self.what = what
        self.progress = None
        self.add_class("-running")
        self.border_title = Text(f"Downloading {inert(what)}")  # Text: never read as markup
        self.update(Text(f" Starting: {plural(files, 'file')}, {fmt_size(size)} · "
                         "esc cancels", style="bold"))

    def show_progress(self, progress: FetchProgress) -> None:
        from one_tui.tui.downloads import progress_text

        self.progress = progress
        self.update(inert_text(progress_text(progress)))

    def stop(self) -> None:
        self.remove_class("-running")
        self.progress = None
