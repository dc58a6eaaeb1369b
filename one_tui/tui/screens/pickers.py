"""The tag picker (``t``), the database picker (``B``) and the freeze form (``F``).

Each picker gets a loader (the service's ``tags`` or ``databases``) and runs it in a thread
worker of its own: the modal opens at once with "asking Alyx…" and fills its list when the
answer comes. Rows are plain text (``plain`` strips what a server could smuggle into a
terminal); the choice is handed back by ``dismiss``, the app does the rest (``tui/sets.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, OptionList, Static
from textual.widgets.option_list import Option

from one_tui.engine.core.results import Answer
from one_tui.engine.core.sets import FULL, DatabaseInfo, TagInfo
from one_tui.text import fmt_age, fmt_size, fmt_time, plain
from one_tui.tui.inert import inert
from one_tui.tui.screens.modal import CloseableModal
from one_tui.tui.widgets.inputs import QuietInput

__all__ = ["TagPicker", "DatabasePicker", "FreezeModal", "tag_row", "database_row", "DEMO"]

#: the database picker's row for the synthetic demo database
DEMO = "demo"


def tag_row(tag: TagInfo, active: str | None) -> str:
    """One tag as the picker lists it: name, public/protected, Alyx's date, size, ONE
    version, and whether its tables are on this disk; the description under it."""
    mark = "● " if tag.name == active else "  "
    access = "public" if tag.public else "protected" if tag.protected else "not public"
    parts = [f"{mark}{plain(tag.name)}"]
    if tag.problem and tag.date_created is None:
        parts.append(plain(tag.problem))
    else:
        parts += [access, fmt_time(tag.date_created),
                  fmt_size(tag.size) if tag.size is not None else "size ?",
                  f"{tag.sessions if tag.sessions is not None else '?'} sessions",
                  f"ONE ≥ {plain(tag.min_api_version) or '?'}"]
    if tag.on_disk is None:
        parts.append("not on disk")
    elif tag.date_created is None or tag.disk_is_current:
        parts.append("on disk")
    else:
        parts.append(f"on disk ({fmt_time(tag.on_disk)}: older)")
    line = " · ".join(parts)
    # Alyx's descriptions are free text over several lines: one line here (inert would show
    # each newline as a visible "\n")
    about = " ".join(tag.description.split())
    return f"{line}\n    {plain(about)}" if about else line


def database_row(db: DatabaseInfo, current: str | None, now: dt.datetime) -> str:
    """One database: URL, cache folder, the age of its tables, size on disk, token."""
    mark = "● " if db.base_url == current else "  "
    if db.problem:
        return f"{mark}{plain(db.client_key)} · {plain(db.problem)}"
    age = (f"tables {fmt_age(db.tables_created, now)} old" if db.tables_created
           else "no tables yet")
    token = "token saved" if db.token_saved else "no token"
    extra = " · ONE's public login, not set up yet" if db.suggested else ""
    tags = f" · tags on disk: {', '.join(db.tags)}" if db.tags else ""
    default = " (ONE's default)" if db.is_default else ""
    return (f"{mark}{plain(db.base_url)}{default}{extra}\n    {plain(str(db.cache_dir))} · "
            f"{age} · {fmt_size(db.size)} · {token}{tags}")


class _Picker(CloseableModal):
    """A list filled by ``loader`` in a thread worker."""

    TITLE = ""
    WAITING = "asking…"

    def __init__(self, loader: Callable[[], Answer[Any]]) -> None:
        super().__init__()
        self.loader = loader
        self.choices: list[Any] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box picker-box"):
            yield Static(self.WAITING, classes="picker-status", markup=False)
            yield OptionList(classes="picker-options")
            yield Static("enter choose · esc/q close", classes="hint")

    def on_mount(self) -> None:
        self.query_one(".picker-box").border_title = self.TITLE
        self.query_one(OptionList).focus()
        self.run_worker(self._load, thread=True, exit_on_error=False, group="picker")

    def _load(self) -> None:
        answer = self.loader()
        self.app.call_from_thread(self.fill, answer)

    def rows(self, values: Sequence[Any]) -> list[tuple[Any, str]]:
        raise NotImplementedError

    def fill(self, answer: Answer[Any]) -> None:
        """Show the rows (or why there are none)."""
        status = self.query_one(".picker-status", Static)
        values = answer.value if answer.error is None and answer.value is not None else ()
        rows = self.rows(values)
        self.choices = [value for value, _ in rows]
        options = self.query_one(OptionList)
        options.clear_options()
        # tags and URLs come from Alyx and ~/.one: drawn inert, never read as markup
        options.add_options([Option(Text(inert(text)), id=str(i))
                             for i, (_, text) in enumerate(rows)])
        status.update(inert(self.summary(answer)))
        if rows:
            options.highlighted = self.first()

    def summary(self, answer: Answer[Any]) -> str:
        return f"not all known: {answer.error}" if answer.error is not None else ""

    def first(self) -> int:
        return 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        if 0 <= index < len(self.choices):
            self.dismiss(self.choices[index])


class TagPicker(_Picker):
    """Dismisses with a tag name, ``"full"`` for the full tables, or None."""

    TITLE = "Tables: full or a release tag"
    WAITING = "asking Alyx for its tags…"

    def __init__(self, loader: Callable[[], Answer[Any]], active: str | None,
                 base_url: str | None) -> None:
        super().__init__(loader)
        self.active = active
        self.base_url = base_url

    def rows(self, values: Sequence[Any]) -> list[tuple[Any, str]]:
        full = f"{'● ' if self.active is None else '  '}{FULL} · every table of the database"
        return [(FULL, full), *((t.name, tag_row(t, self.active)) for t in values)]

    def summary(self, answer: Answer[Any]) -> str:
        where = plain(self.base_url) or "this folder"
        if answer.error is not None:
            return f"{where}: tags not listed ({plain(str(answer.error))})"
        n = len(answer.value or ())
        return (f"{where}: {n} release tag{'s' if n != 1 else ''}; a tag's tables are "
                "downloaded only when Alyx has newer ones")

    def first(self) -> int:
        return next((i for i, c in enumerate(self.choices) if c == (self.active or FULL)), 0)


class DatabasePicker(_Picker):
    """Dismisses with a :class:`DatabaseInfo`, ``"demo"``, or None."""

    TITLE = "Databases (~/.one)"
    WAITING = "reading ~/.one and the cache folders…"

    def __init__(self, loader: Callable[[], Answer[Any]], current: str | None,
                 now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        super().__init__(loader)
        self.current = current
        self.now = now

    def rows(self, values: Sequence[Any]) -> list[tuple[Any, str]]:
        now = self.now()
        out: list[tuple[Any, str]] = [(db, database_row(db, self.current, now))
                                      for db in values]
        out.append((DEMO, "  demo · a synthetic database served on this machine"))
        return out

    def summary(self, answer: Answer[Any]) -> str:
        if answer.error is not None:
            return f"~/.one not read: {plain(str(answer.error))}"
        return "enter re-opens one-tui on that database (its own folder, token and tables)"

    def first(self) -> int:
        return next((i for i, c in enumerate(self.choices)
                     if isinstance(c, DatabaseInfo) and c.base_url == self.current), 0)


class FreezeModal(CloseableModal):
    """Dismisses with (folder, with data) or None."""

    def __init__(self, n_sessions: int, tag: str | None, default: str) -> None:
        super().__init__()
        self.n_sessions = n_sessions
        self.tag = tag
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="freeze-box", classes="modal-box"):
            yield Static(f"{self.n_sessions} sessions of the results ({self.tag or FULL} "
                         "tables) into a ONE cache folder for a node without network:",
                         markup=False)
            yield QuietInput(self.default, id="freeze-folder")
            yield Checkbox("with the files (hard links from the cache folder, size and md5 "
                           "checked)", id="freeze-data")
            yield Static("enter freeze · esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#freeze-box").border_title = "Freeze for an offline node"
        self.query_one("#freeze-folder", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        folder = event.value.strip()
        if folder:
            self.dismiss((folder, self.query_one("#freeze-data", Checkbox).value))
