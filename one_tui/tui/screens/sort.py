"""The sort modal: pick a column with the keyboard (headers can also be clicked)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from one_tui.tui.convert import COLUMNS
from one_tui.tui.screens.modal import CloseableModal
from one_tui.tui.widgets.results import LABELS


class SortModal(CloseableModal):
    """Dismisses with a column name; the pane reverses the order if it is the current one."""

    def __init__(self, current: tuple[str, str] | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for column in (*COLUMNS, "eid"):
            mark = ""
            if self.current and self.current[0] == column:
                mark = "  ↑ (again: ↓)" if self.current[1] == "ascending" else "  ↓ (again: ↑)"
            options.append(Option(LABELS.get(column, column) + mark, id=column))
        with Vertical(id="sort-box", classes="modal-box"):
            yield Static(self.current_text(), id="sort-current", markup=False)
            yield OptionList(*options, id="sort-options")
            yield Static("enter sort · esc/q close", classes="hint")

    def current_text(self) -> str:
        """What the table is sorted by now (ONE's order until a column is chosen)."""
        if not self.current:
            return "now: ONE's order (newest first)"
        arrow = "↑ ascending" if self.current[1] == "ascending" else "↓ descending"
        return f"now: {LABELS.get(self.current[0], self.current[0])} {arrow}"

    def on_mount(self) -> None:
        self.query_one("#sort-box").border_title = "Sort sessions by"
        options = self.query_one("#sort-options", OptionList)
        columns = [*COLUMNS, "eid"]
        current = self.current[0] if self.current else None
        options.highlighted = columns.index(current) if current in columns else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
