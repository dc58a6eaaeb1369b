"""The session details pane: fields, datasets by collection and revision, insertions, remote record.

CRITICAL datasets are listed (the engine asks for qc=CRITICAL), marked in red, never hidden. The
pane owns what it shows (``eid``, ``details``): copying a ONE line reads them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from one_tui.engine.core.spec import QC
from one_tui.engine.core.types import DiskState
from one_tui.engine.core.values import DatasetRow, DiskTotals, Insertion, SessionDetails
from one_tui.text import fmt_size, plain, plural
from one_tui.tui import keys
from one_tui.tui.dataset_list import DatasetList, Group
from one_tui.tui.inert import inert, inert_text
from one_tui.tui.widgets.hanging import HangingStatic

SESSION_FIELDS = ("subject", "lab", "date", "number", "task_protocol", "projects")
REMOTE_FIELDS = ("narrative", "qc", "extended_qc", "n_trials", "n_correct_trials", "performance",
                 "users", "start_time", "end_time", "location", "procedures")
QC_STYLE = {"PASS": "green", "WARNING": "yellow", "FAIL": "red", "CRITICAL": "bold red reverse"}
HINT = "Select a session (enter) to see its datasets, insertions and Alyx record."
#: seconds between redraws while a download lands files in the session shown
LIVE_REDRAW = 0.2


class DetailsPane(VerticalScroll, can_focus=True):
    """One Static with the whole text; a cursor on the datasets (collections fold), marks.

    up/down move the cursor over the dataset lines (the view follows it), enter / right /
    left unfold and fold a collection, space marks (a collection: all of it), a marks the
    session. What is marked is ``marked_rows``; D downloads it (the main screen)."""

    BORDER_TITLE = "Details"
    BINDINGS = keys.details_bindings()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eid: str | None = None                 # the session asked for (loading or shown)
        self.details: SessionDetails | None = None  # what is shown
        self.datasets = DatasetList()               # its datasets: folds, cursor, marks
        self.downloading: dict[str, float] = {}     # dataset id -> fraction, while fetched
        self._redraw: Timer | None = None           # a live redraw due (_draw_soon)

    def compose(self) -> ComposeResult:
        yield HangingStatic(HINT, id="details-body")  # long paths wrap under themselves

    def show_loading(self, eid: str) -> None:
        self.eid = eid
        self.border_title = "Details · loading"
        self.query_one("#details-body", Static).update(Text(f"Loading {inert(eid)}…"))

    def show_error(self, text: str) -> None:
        self.border_title = "Details"
        self.query_one("#details-body", Static).update(Text(inert(text, lines=True),
                                                            style="red"))

    def show(self, ready: SessionDetails) -> None:
        """The details of the session asked for last (a late answer of another is dropped);
        the same session again (after a download) keeps its folds, marks and cursor."""
        if ready.eid != self.eid:
            return
        same = self.details is not None and self.details.eid == ready.eid
        self.details = ready
        self.datasets = DatasetList.of(ready.eid, ready.datasets, self.datasets)
        self.border_title = f"Details · {inert(ready.session.get('subject', ''))}"
        self._draw()
        if not same:
            self.scroll_home(animate=False)

    @property
    def marked_rows(self) -> tuple[DatasetRow, ...]:
        return self.datasets.marked_rows if self.details is not None else ()

    def file_done(self, dataset_id: str, on_disk: bool) -> None:
        """A download finished a file of the session shown: its line says so at once."""
        ready = self.details
        if ready is None or not any(d.id == dataset_id for d in ready.datasets):
            return
        rows = tuple(replace(d, on_disk=on_disk, disk=DiskState.OK if on_disk else d.disk)
                     if d.id == dataset_id else d for d in ready.datasets)
        self.downloading.pop(dataset_id, None)
        self.details = replace(ready, datasets=rows, disk=live_totals(ready.disk, rows))
        self.datasets = DatasetList.of(ready.eid, rows, self.datasets)
        self._draw_soon()

    def files_active(self, fractions: dict[str, float]) -> None:
        """The files being fetched now (id -> fraction): their lines show how far."""
        ready = self.details
        if ready is None:
            return
        ids = {d.id for d in ready.datasets}
        mine = {k: v for k, v in fractions.items() if k in ids}
        if mine != self.downloading:
            self.downloading = mine
            self._draw_soon()

    # -------------------------------------------------------------- drawing

    def on_focus(self) -> None:
        self._draw()

    def on_blur(self) -> None:
        self._draw()

    def _draw_soon(self) -> None:
        """Redraw within :data:`LIVE_REDRAW` seconds, once however many files land meanwhile:
        a session's whole text per finished file made a download of 142 small files take
        4.8 s in the app against 1.7 s for the engine alone."""
        if self._redraw is None:
            self._redraw = self.set_timer(LIVE_REDRAW, self._draw_now)

    def _draw_now(self) -> None:
        self._redraw = None
        self._draw()

    def _draw(self) -> None:
        ready = self.details
        if ready is None or ready.eid != self.eid:
            return
        text, cursor_at = render_details(ready, self.datasets, self.has_focus,
                                         self.downloading, with_cursor=True)
        self.query_one("#details-body", Static).update(inert_text(text))
        if cursor_at is not None and self.has_focus:
            self.call_after_refresh(self._follow, text, cursor_at)

    def _follow(self, text: Text, cursor_at: int) -> None:
        """Scroll so the cursor's line is in view (lines wrapped at this width counted)."""
        width = max(1, self.scrollable_content_region.width)
        before = text[:cursor_at]
        y = len(before.wrap(self.app.console, width)) - (1 if before.plain.endswith("\n")
                                                          else 0)
        height = self.scrollable_content_region.height
        if y < self.scroll_y:
            self.scroll_to(y=y, animate=False)
        elif y >= self.scroll_y + height:
            self.scroll_to(y=y - height + 1, animate=False)

    def _update(self, new: DatasetList) -> None:
        if new is not self.datasets:
            self.datasets = new
            self._draw()

    # -------------------------------------------------------------- keys

    def _ready(self) -> bool:
        if self.details is None or not self.details.datasets:
            self.notify("No datasets here: open a session's details first (enter on it).",
                        severity="warning")
            return False
        return True

    def action_cursor(self, delta: int) -> None:
        if self.details is None:
            self.scroll_relative(y=delta, animate=False)
            return
        self._update(self.datasets.move(delta))

    def action_cursor_page(self, direction: int) -> None:
        step = max(1, self.scrollable_content_region.height - 1)
        self.action_cursor(direction * step)

    def action_cursor_end(self, end: bool) -> None:
        if self.details is not None:
            self._update(self.datasets.to_end(end))
        if end:
            self.scroll_end(animate=False)
        else:
            self.scroll_home(animate=False)

    def action_fold(self, how: str = "toggle") -> None:
        if self._ready():
            self._update(self.datasets.fold({"fold": True, "unfold": False}.get(how)))

    def action_mark(self) -> None:
        if self._ready():
            self._update(self.datasets.toggle_mark())

    def action_mark_all(self) -> None:
        if self._ready():
            self._update(self.datasets.mark_all())
            n = len(self.datasets.marked)
            self.notify(f"{plural(n, 'dataset')} marked" if n else "Marks cleared")


def live_totals(disk: DiskTotals | None, rows: tuple[DatasetRow, ...]) -> DiskTotals | None:
    if disk is None:
        return None
    here = [d for d in rows if d.on_disk and d.default_revision]  # as the engine counts
    return replace(disk, n_on_disk=len(here),
                   bytes_on_disk=sum(d.file_size or 0 for d in here))


def render_details(ready: SessionDetails, datasets: DatasetList | None = None,
                   focused: bool = False, downloading: Mapping[str, float] | None = None,
                   *, with_cursor: bool = False) -> Any:
    """All sections as one Text (plain strings: data is never parsed as markup); with
    ``with_cursor``, (text, offset of the cursor's line or None)."""
    lst = datasets if datasets is not None and datasets.eid == ready.eid else (
        DatasetList.of(ready.eid, ready.datasets))
    out = Text()
    _section(out, "Session")
    out.append(f"  eid            {ready.eid}\n")
    for key in SESSION_FIELDS:
        out.append(f"  {key.replace('_', ' '):<14} {plain(ready.session.get(key))}\n")
    cursor_at = _datasets(out, lst, ready.disk, focused, downloading or {})
    _insertions(out, ready.insertions, ready.insertions_unknown)
    _remote(out, ready)
    return (out, cursor_at) if with_cursor else out


def _section(out: Text, title: str) -> None:
    out.append(f"{title}\n", style="bold underline")


NAME_WIDTH = 36


def _datasets(out: Text, lst: DatasetList, disk: DiskTotals | None, focused: bool,
              downloading: Mapping[str, float]) -> int | None:
    """The datasets by collection and revision; returns where the cursor's line starts."""
    rows = lst.rows
    n_missing = sum(1 for d in rows if not d.exists)
    n_critical = sum(1 for d in rows if d.qc == "CRITICAL")
    marked = f" · {len(lst.marked)} marked" if lst.marked else ""
    _section(out, f"\nDatasets · {len(rows)} ({n_critical} CRITICAL, "
                  f"{n_missing} missing on the server){marked}")
    if disk is not None:
        out.append(f"  on this disk   {disk.n_on_disk} of {disk.n_datasets} datasets, "
                   f"{fmt_size(disk.bytes_on_disk)} of {fmt_size(disk.bytes_on_server)} "
                   "on the server\n")
        out.append(f"  in {disk.folder}\n", style="dim")
    damaged = sum(1 for d in rows if d.disk in DAMAGED)
    if damaged:
        out.append(f"  damaged        {plural(damaged, 'file')} on this disk ONE would "
                   "download again (K: disk doctor)\n", style="red")
    if rows and focused:
        out.append("  space marks · a all · enter folds · D downloads · K checks the disk\n",
                   style="dim")
    cursor_at = None
    current = lst.current
    for item in lst.items:
        start = len(out)
        here = focused and item == current
        if item.row is None:
            _group_line(out, lst, item.group)
        else:
            _dataset_line(out, item.row, item.row.id in lst.marked,
                          downloading.get(item.row.id))
        if item == current:
            cursor_at = start
            if here:
                out.stylize("reverse", start, len(out) - 1)
    return cursor_at


def _group_line(out: Text, lst: DatasetList, group: Group) -> None:
    folded = group.key in lst.folded
    n = len(group.rows)
    marks = lst.n_marked(group)
    out.append(f"{'▸' if folded else '▾'} {group.label}", style="bold")
    revisions = sum(g.collection == group.collection for g in lst.groups)
    if revisions > 1 or not group.default:  # which revision ONE loads without revision=
        out.append("  default" if group.default else "  not the default revision",
                   style="green" if group.default else "dim")
    tail = f"  {plural(n, 'dataset')}" + (f", {marks} marked" if marks else "")
    out.append(f"{tail}\n", style="dim")


DAMAGED = frozenset({DiskState.SIZE_MISMATCH, DiskState.HASH_MISMATCH})
DISK_WORDS = {DiskState.OK: ("on disk", "green"), DiskState.SIZE_MISMATCH: ("damaged", "red"),
              DiskState.HASH_MISMATCH: ("damaged", "red"),
              DiskState.STRANDED: ("stranded", "yellow"),
              DiskState.PARTIAL: ("partial", "yellow"), DiskState.MISSING: ("not here", "dim")}


def _dataset_line(out: Text, d: DatasetRow, marked: bool, fetching: float | None) -> None:
    qc = str(d.qc or "NOT_SET")
    name = d.name if len(d.name) <= NAME_WIDTH else d.name[:NAME_WIDTH - 1] + "…"
    out.append("  ✓ " if marked else "    ", style="bold green" if marked else "")
    out.append(f"{name:<{NAME_WIDTH}} {fmt_size(d.file_size):>9}  ")
    out.append(f"{qc:<8}", style=QC_STYLE.get(qc, ""))
    # short words: at 80 columns the line must not wrap (the section header says "on this disk")
    if fetching is not None:
        out.append(f"  ↓ {fetching:4.0%}\n", style="cyan")
    elif d.disk is not None and (d.exists or d.disk is not DiskState.MISSING):
        word, style = DISK_WORDS[d.disk]
        out.append(f"  {word}\n", style=style)
    elif d.on_disk:
        out.append("  on disk\n", style="green")
    elif not d.exists:
        out.append("  missing\n", style="red")
    else:
        out.append("  not here\n", style="dim")


def _insertions(out: Text, insertions: tuple[Insertion, ...], unknown: str | None) -> None:
    """The insertions; when the tables cannot tell (local mode), "unknown" and why, never 0."""
    if unknown and not insertions:
        _section(out, "\nProbe insertions · unknown here")
        out.append(f"  {plain(unknown)}\n", style="dim")
        return
    _section(out, f"\nProbe insertions · {len(insertions)}")
    if not insertions:
        out.append("  none\n", style="dim")
    for ins in insertions:
        out.append(f"  {plain(ins.name):<10} {plain(ins.model):<12} {plain(ins.pid)}\n")


def _remote(out: Text, ready: SessionDetails) -> None:
    source = f" · from {ready.remote_source}" if ready.remote_source else ""
    _section(out, f"\nAlyx record{source}")
    if ready.remote_error is not None:
        out.append(f"  {ready.remote_error.text}\n", style="dim")
        return
    if ready.remote is None:
        out.append("  not asked: local mode reads only the tables (auto or remote fetch it)\n",
                   style="dim")
        return
    remote: Mapping[str, Any] = ready.remote
    for key in REMOTE_FIELDS:
        if key in remote:
            value = remote[key]
            if isinstance(value, dict):
                out.append(f"  {key.replace('_', ' ')}\n")
                for sub, val in sorted(value.items()):
                    out.append(f"    {sub:<30} {plain(val)}\n")
            elif key == "qc":
                name = _qc_name(value)
                out.append(f"  {'session QC':<16} ")
                out.append(name, style=QC_STYLE.get(name, ""))
                out.append("\n")
            else:
                out.append(f"  {key.replace('_', ' '):<16} {plain(value)}\n")


def _qc_name(value: Any) -> str:
    """Alyx sends the session QC as a name or its number (50): shown by name, coloured."""
    try:
        return QC.validate(value).name
    except (ValueError, TypeError, KeyError):
        return plain(value)
