"""The help screen: bundled markdown plus the live key table (it reflects the user's keymap)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from one_tui.tui.screens.modal import CloseableModal

HELP_MD = Path(__file__).with_name("help.md")


def help_text() -> str:
    """The bundled help (package data next to this module)."""
    return HELP_MD.read_text(encoding="utf-8")


def key_table(rows: list[tuple[str, str, str]]) -> str:
    """A markdown table of (keys, action, binding id)."""
    lines = ["| keys | action | id |", "|---|---|---|"]
    lines += [f"| `{keys}` | {desc} | `{bid}` |" for keys, desc, bid in rows]
    return "\n".join(lines)


class HelpModal(CloseableModal):
    """Scrollable help; escape or q closes it."""

    def __init__(self, keys: list[tuple[str, str, str]], terminal: str = "",
                 intro: str = "") -> None:
        super().__init__()
        self.keys = keys
        self.terminal = terminal
        self.intro = intro  # help.md, read by the app (widgets read no files)

    def compose(self) -> ComposeResult:
        text = self.intro + "\n\n## Keys\n\n" + key_table(self.keys)
        if self.terminal:
            text += f"\n\n## This terminal\n\n`{self.terminal}`\n"
        with Vertical(id="help-box", classes="modal-box"):
            with VerticalScroll(id="help-scroll"):
                # Rich's renderer in one Static: Textual's Markdown widget (a widget per
                # block) took ~1.7 s to open here.
                from rich.markdown import Markdown

                yield Static(Markdown(text, hyperlinks=False), id="help-text")
            yield Static("↑↓ pgup pgdn scroll · esc/q close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "Help"

    def on_screen_resume(self) -> None:
        """Each time it is shown (the app keeps it installed): from the top."""
        scroll = self.query_one("#help-scroll", VerticalScroll)
        scroll.scroll_home(animate=False)
        scroll.focus()
