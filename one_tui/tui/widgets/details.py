"""The session details pane: fields, datasets by collection and revision, insertions, remote record.

CRITICAL datasets are listed (the engine asks for qc=CRITICAL), marked in red, never hidden. The
pane owns what it shows (``eid``, ``details``): copying a ONE line reads them here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from one_tui.engine.core.spec import QC
from one_tui.engine.core.values import DatasetRow, DiskTotals, Insertion, SessionDetails
from one_tui.text import fmt_size, plain
from one_tui.tui.inert import inert, inert_text
from one_tui.tui.widgets.hanging import HangingStatic

SESSION_FIELDS = ("subject", "lab", "date", "number", "task_protocol", "projects")
REMOTE_FIELDS = ("narrative", "qc", "extended_qc", "n_trials", "n_correct_trials", "performance",
                 "users", "start_time", "end_time", "location", "procedures")
QC_STYLE = {"PASS": "green", "WARNING": "yellow", "FAIL": "red", "CRITICAL": "bold red reverse"}
HINT = "Select a session (enter) to see its datasets, insertions and Alyx record."


class DetailsPane(VerticalScroll, can_focus=True):
    """One Static with the whole text; scrolls with the keyboard when focused."""

    BORDER_TITLE = "Details"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eid: str | None = None                 # the session asked for (loading or shown)
        self.details: SessionDetails | None = None  # what is shown

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
        """The details of the session asked for last (a late answer of another is dropped)."""
        if ready.eid != self.eid:
            return
        self.details = ready
        self.border_title = f"Details · {inert(ready.session.get('subject', ''))}"
        self.query_one("#details-body", Static).update(inert_text(render_details(ready)))
        self.scroll_home(animate=False)


def render_details(ready: SessionDetails) -> Text:
    """All sections as one Text (plain strings: data is never parsed as markup)."""
    out = Text()
    _section(out, "Session")
    out.append(f"  eid            {ready.eid}\n")
    for key in SESSION_FIELDS:
        out.append(f"  {key.replace('_', ' '):<14} {plain(ready.session.get(key))}\n")
    _datasets(out, ready.datasets, ready.disk)
    _insertions(out, ready.insertions, ready.insertions_unknown)
    _remote(out, ready)
    return out


def _section(out: Text, title: str) -> None:
    out.append(f"{title}\n", style="bold underline")


def _datasets(out: Text, datasets: tuple[DatasetRow, ...], disk: DiskTotals | None) -> None:
    n_missing = sum(1 for d in datasets if not d.exists)
    n_critical = sum(1 for d in datasets if d.qc == "CRITICAL")
    _section(out, f"\nDatasets · {len(datasets)} ({n_critical} CRITICAL, "
                  f"{n_missing} missing on the server)")
    if disk is not None:
        out.append(f"  on this disk   {disk.n_on_disk} of {disk.n_datasets} datasets, "
                   f"{fmt_size(disk.bytes_on_disk)} of {fmt_size(disk.bytes_on_server)} "
                   "on the server\n")
        out.append(f"  in {disk.folder}\n", style="dim")
    groups: dict[tuple[str, str], list[DatasetRow]] = defaultdict(list)
    for d in datasets:
        groups[(d.collection or "", d.revision or "")].append(d)
    for (collection, revision), rows in sorted(groups.items()):
        label = collection or "(session root)"
        if revision:
            label += f"  #{revision}#"
        out.append(f"  {label}\n", style="bold")
        for d in sorted(rows, key=lambda r: r.name):
            _dataset_line(out, d)


def _dataset_line(out: Text, d: DatasetRow) -> None:
    qc = str(d.qc or "NOT_SET")
    out.append(f"    {d.name:<38} {fmt_size(d.file_size):>9}  ")
    out.append(f"{qc:<8}", style=QC_STYLE.get(qc, ""))
    # short words: at 80 columns the line must not wrap (the section header says "on this disk")
    if d.on_disk:
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
