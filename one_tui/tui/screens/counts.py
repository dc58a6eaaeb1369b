"""The counts panel (``c``): what the current results hold, per lab, subject, project,
protocol (and dataset QC when the search had a dataset filter), as sorted rows with inline
bars, and the sessions per week or month as a sparkline.

``enter`` on a row narrows the search by that value: the filter field is filled and the search
runs (the screen is dismissed with the (field, value) the main screen applies). The counts come
from the engine (``EngineService.count_sessions``, on the results' Arrow table), computed on
the UI thread: 200,000 rows take milliseconds (benchmarks/bench_counts.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Sparkline, Static
from textual.widgets.option_list import Option

from one_tui.text import plural

if TYPE_CHECKING:
    from one_tui.engine.core.history import SessionCounts

#: counted column -> (heading, filter field it narrows)
SECTIONS = {"lab": ("lab", "lab"), "subject": ("subject", "subject"),
            "projects": ("project", "project"), "task_protocol": ("protocol", "task_protocol"),
            "dataset_qc": ("dataset QC", "dataset_qc")}
NONE = "(none)"
BAR = 20  # cells of the longest bar
#: rows listed per section (the rest is summed in one line)
MOST = 50


def filter_value(field: str, value: str, remote: bool) -> str:
    """What the filter field gets to select exactly ``value``: the filters are regular
    expressions on the tables (anchored so KS001 does not match KS0012); Alyx's own filters
    are exact, so a remote search gets the value as it is."""
    if remote or field == "dataset_qc":
        return value
    escaped = re.escape(value)
    if field == "project":  # the projects column joins a session's projects with commas
        return f"(^|,)\\s*{escaped}\\s*(,|$)"
    return f"^{escaped}$"


def bar(n: int, most: int, width: int = BAR) -> str:
    """An inline bar of ``n`` against ``most`` (eighths of a cell)."""
    if most <= 0:
        return ""
    eighths = round(width * 8 * n / most)
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


class CountsScreen(Screen[tuple[str, str] | None]):
    """The counts of the results on screen; dismissed with (filter field, value) or None.

    A screen of its own, not a modal: nothing of the results table is drawn behind it, and
    at 80x24 it has the whole terminal."""

    DEFAULT_CSS = """
    CountsScreen { align: center middle; }
    CountsScreen > Vertical { width: 100%; max-width: 110; height: 1fr;
                              border: round $accent; }
    CountsScreen #counts-title, CountsScreen #counts-period { padding: 0 1; }
    CountsScreen Sparkline { height: 2; margin: 0 1; }
    CountsScreen OptionList { height: 1fr; }
    """

    BINDINGS = [Binding("escape,c", "dismiss_none", "Close"),
                Binding("q", "app.quit", "Quit", show=False)]

    def __init__(self, counts: SessionCounts) -> None:
        super().__init__()
        self.counts = counts
        self._values: dict[str, tuple[str, str]] = {}

    def compose(self) -> ComposeResult:
        c = self.counts
        with Vertical():
            yield Static(f"Counts of {plural(c.total, 'session')} · enter narrows the search",
                         id="counts-title")
            yield Static(self._period_text(), id="counts-period")
            yield Sparkline([n for _, n in c.timeline] or [0], summary_function=max,
                            id="counts-timeline")
            yield OptionList(*self._options(), id="counts-list")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def _period_text(self) -> str:
        c = self.counts
        if not c.timeline:
            return "no dates"
        first, last = c.timeline[0][0], c.timeline[-1][0]
        busiest = max(n for _, n in c.timeline)
        return (f"sessions per {c.period}, {first.isoformat()} to {last.isoformat()} "
                f"(most in one {c.period}: {busiest:,})")

    def _options(self) -> list[Option | None]:
        out: list[Option | None] = []
        width = max((len(r.value) for rows in self.counts.by.values() for r in rows[:MOST]),
                    default=8)
        width = min(width, 40, max(12, self.app.size.width - BAR - 20))
        for column, rows in self.counts.by.items():
            heading, field = SECTIONS.get(column, (column, column))
            if out:
                out.append(None)
            out.append(Option(Text(f"{heading} ({len(rows):,} values)", style="bold"),
                              disabled=True))
            most = rows[0].sessions if rows else 0
            for i, row in enumerate(rows[:MOST]):
                ident = f"{column}:{i}"
                self._values[ident] = (field, row.value)
                label = row.value if len(row.value) <= width else row.value[:width - 1] + "…"
                text = Text(f"{label:<{width}} {row.sessions:>8,} ")
                text.append(bar(row.sessions, most), style="cyan")
                out.append(Option(text, id=ident, disabled=row.value == NONE))
            if len(rows) > MOST:
                rest = sum(r.sessions for r in rows[MOST:])
                out.append(Option(f"… {len(rows) - MOST:,} more values, {rest:,} sessions",
                                  disabled=True))
        return out

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen: Any = self._values.get(event.option.id or "")
        if chosen is not None:
            self.dismiss(chosen)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

