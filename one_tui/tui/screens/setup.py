"""Shown when there are no ONE settings and no --base-url: how to set up, or try the demo."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

SETUP_TEXT = """\
No ONE settings were found (~/.one) and no --base-url was given.

Connect to an Alyx database:

    one-tui --base-url https://openalyx.internationalbrainlab.org --username intbrainlab

or set ONE up once in Python (one-tui reads the same settings):

    from one.api import ONE
    ONE.setup(base_url='https://alyx.example.org', silent=False)

Browse a cache folder without a database:

    one-tui --cache-dir /path/to/ONE --mode local

Or open IBL's public database with ONE's public login (intbrainlab): press p.
Or try it now on a synthetic database served on this machine: press d.
"""


class SetupScreen(Screen[None]):
    """Explains the set-up; ``p`` opens ONE's public database, ``d`` the demo, ``q`` quits."""

    BINDINGS = [
        Binding("d", "app.start_demo", "Start the demo", id="setup_demo"),
        Binding("p", "app.start_public", "Public database", id="setup_public"),
        Binding("q", "app.quit", "Quit", id="setup_quit"),
    ]

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="setup-box", classes="modal-box"):
            yield Static(SETUP_TEXT, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#setup-box").border_title = "Welcome to one-tui"
