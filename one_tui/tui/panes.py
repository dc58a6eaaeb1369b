"""Which pane is shown and which has the focus: the wide and narrow layouts, the top bar, the
pane keys and tab inside the filters.

Its own module because the layout changes for its own reasons (a terminal size, a pane, a focus
bug over SSH) and never with the workers. A mixin of :class:`one_tui.tui.app.OneApp`; it sets the
app's ``pane`` and ``side``.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Input, Static

from one_tui.tui.cache_pane import CachePane
from one_tui.tui.filters import FiltersPane
from one_tui.tui.results import ResultsPane

PANES = ("filters", "results", "details", "cache")
PANE_TITLES = {"filters": "Filters", "results": "Sessions", "details": "Details", "cache": "Cache"}
NARROW_WIDTH = 120  # below this, one pane at a time (80x24 over SSH)


class PaneLayout:
    """Mixin for the App: the panes' layout and focus, and the actions that move between them."""

    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    @property
    def narrow(self) -> bool:
        return self.size.width < NARROW_WIDTH

    def _layout(self) -> None:
        """Wide: filters | sessions over details-or-cache. Narrow: only the chosen pane."""
        narrow = self.narrow
        for pane in self.query(".pane"):
            name = pane.id
            if narrow:
                pane.display = name == self.pane
            else:
                pane.display = name in ("filters", "results") or name == self.side
        self.query_one("#right").display = not narrow or self.pane != "filters"
        self.query_one("#panes").set_class(narrow, "-narrow")
        self._render_topbar()
        cache = self.query_one(CachePane)
        if self.cache_info and cache.display:
            cache.show(self.cache_info, self.clock(), self.bypass_rest)

    def _render_topbar(self) -> None:
        from rich.text import Text

        out = Text(" one-tui ", style="bold")
        for i, name in enumerate(PANES, 1):
            shown = name == self.pane if self.narrow else name in ("filters", "results",
                                                                  self.side)
            # at 80 columns only the shown pane is named: the database URL must fit beside
            label = f" {i} {PANE_TITLES[name]} " if shown or not self.narrow else f" {i} "
            out.append(label, style="reverse" if shown else "dim")
        where = self.connector.label or self.connector.base_url if self.connector else ""
        if where:
            out.append(f"  {where}", style="dim")
        self.query_one("#topbar", Static).update(out)

    def _filters_pane(self) -> FiltersPane | None:
        """The filters pane, None in the instant before its lazy mount."""
        found = self.query(FiltersPane)
        return found.first() if found else None

    def action_show_pane(self, name: str) -> None:
        """Show (narrow) or focus (wide) a pane; details and cache share the right column."""
        self.pane = name
        if name in ("details", "cache"):
            self.side = name
        self._layout()
        self._focus_pane(name)

    def _focus_pane(self, name: str) -> None:
        """Focus a pane at once (``Widget.focus()`` is deferred: keys typed right after the pane
        key would still reach the old widget, where letters are commands)."""
        target: Any = None
        if name == "filters":
            target = next(iter(self.query("#f-lab")), None)
        elif name == "results":
            target = self.query_one(ResultsPane).table or self.query_one(ResultsPane)
        else:
            target = self.query_one(f"#{name}")
        if target is not None and self.screen is self.screen_stack[0]:
            self.screen.set_focus(target)
        elif target is not None:
            target.focus()

    def action_focus_step(self, step: int) -> None:
        """tab / shift+tab. Inside the filters, the focus cycles through the filters only: tab
        past the last one used to land in the sessions table, where the letters still being
        typed (s, o, q, C) are commands."""
        screen = self.screen
        focused = screen.focused
        filters = self._filters_pane()
        if (filters is not None and focused is not None and screen is self.screen_stack[0]
                and filters in focused.ancestors):
            chain = [w for w in screen.focus_chain if filters in w.ancestors]
            if focused in chain:
                screen.set_focus(chain[(chain.index(focused) + step) % len(chain)])
                return
        if step > 0:
            screen.focus_next()
        else:
            screen.focus_previous()

    def action_next_pane(self) -> None:
        """ctrl+n: the next pane (filters, sessions, details, cache), also from inside a field."""
        if self.screen is not self.screen_stack[0]:
            return
        current = self.pane
        focused = self.focused
        if focused is not None:
            for name in PANES:
                pane = self.query_one(f"#{name}")
                if focused is pane or pane in focused.ancestors:
                    current = name
        self.action_show_pane(PANES[(PANES.index(current) + 1) % len(PANES)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The priority pane keys act only on the main screen and outside a text field."""
        if action in ("focus_filters", "show_pane"):
            if self.screen is not self.screen_stack[0] or isinstance(self.focused, Input):
                return False
        return True

    def action_focus_filters(self) -> None:
        self.action_show_pane("filters")
