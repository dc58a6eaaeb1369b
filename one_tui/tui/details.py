"""The session details pane: fields, datasets by collection and revision, insertions, remote record.

CRITICAL datasets are listed (the app asks for qc=CRITICAL), marked in red, never hidden.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from one_tui.tui.formatting import fmt_size, plain
from one_tui.tui.messages import DetailsReady

SESSION_FIELDS = ("subject", "lab", "date", "number", "task_protocol", "projects")
REMOTE_FIELDS = ("narrative", "qc", "extended_qc", "n_trials", "n_correct_trials", "performance",
                 "users", "start_time", "end_time", "location", "procedures")
QC_STYLE = {"PASS": "green", "WARNING": "yellow", "FAIL": "red", "CRITICAL": "bold red reverse"}
HINT = "Select a session (enter) to see its datasets, insertions and Alyx record."


class DetailsPane(VerticalScroll, can_focus=True):
    """One Static with the whole text; scrolls with the keyboard when focused."""

    BORDER_TITLE = "Details"

    def compose(self):
        yield Static(HINT, id="details-body")

    def show_loading(self, eid: str) -> None:
        self.border_title = "Details · loading"
        self.query_one("#details-body", Static).update(Text(f"Loading {eid}…"))

    def show_error(self, text: str) -> None:
        self.border_title = "Details"
        self.query_one("#details-body", Static).update(Text(text, style="red"))

    def show(self, ready: DetailsReady) -> None:
        self.border_title = f"Details · {ready.session.get('subject', '')}"
        self.query_one("#details-body", Static).update(render_details(ready))
        self.scroll_home(animate=False)


def render_details(ready: DetailsReady) -> Text:
    """All sections as one Text (plain strings: data is never parsed as markup)."""
    out = Text()
    _section(out, "Session")
    out.append(f"  eid            {ready.eid}\n")
    for key in SESSION_FIELDS:
        out.append(f"  {key.replace('_', ' '):<14} {plain(ready.session.get(key))}\n")
    _datasets(out, ready.datasets, ready.disk)
    _insertions(out, ready.insertions)
    _remote(out, ready)
    return out


def _section(out: Text, title: str) -> None:
    out.append(f"{title}\n", style="bold underline")


def _datasets(out: Text, datasets: list[dict[str, Any]], disk: dict[str, Any] | None) -> None:
    n_missing = sum(1 for d in datasets if not d.get("exists", True))
    n_critical = sum(1 for d in datasets if d.get("qc") == "CRITICAL")
    _section(out, f"\nDatasets · {len(datasets)} ({n_critical} CRITICAL, "
                  f"{n_missing} missing on the server)")
    if disk is not None:
        out.append(f"  on this disk   {disk['n_on_disk']} of {disk['n_datasets']} datasets, "
                   f"{fmt_size(disk['bytes_on_disk'])} of {fmt_size(disk['bytes_on_server'])} "
                   "on the server\n")
        out.append(f"  in {disk['folder']}\n", style="dim")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for d in datasets:
        groups[(d.get("collection") or "", d.get("revision") or "")].append(d)
    for (collection, revision), rows in sorted(groups.items()):
        label = collection or "(session root)"
        if revision:
            label += f"  #{revision}#"
        out.append(f"  {label}\n", style="bold")
        for d in sorted(rows, key=lambda r: r.get("name", "")):
            _dataset_line(out, d)


def _dataset_line(out: Text, d: dict[str, Any]) -> None:
    name = d.get("name", "")
    qc = str(d.get("qc") or "NOT_SET")
    out.append(f"    {name:<38} {fmt_size(d.get('file_size')):>9}  ")
    out.append(f"{qc:<8}", style=QC_STYLE.get(qc, ""))
    # short words: at 80 columns the line must not wrap (the section header says "on this disk")
    if d.get("on_disk"):
        out.append("  on disk\n", style="green")
    elif not d.get("exists", True):
        out.append("  missing\n", style="red")
    else:
        out.append("  not here\n", style="dim")


def _insertions(out: Text, insertions: list[dict[str, Any]]) -> None:
    _section(out, f"\nProbe insertions · {len(insertions)}")
    if not insertions:
        out.append("  none\n", style="dim")
    for ins in insertions:
        out.append(f"  {plain(ins.get('name')):<10} {plain(ins.get('model')):<12} "
                   f"{plain(ins.get('pid'))}\n")


def _remote(out: Text, ready: DetailsReady) -> None:
    _section(out, "\nAlyx record")
    if ready.remote_error:
        out.append(f"  {ready.remote_error}\n", style="dim")
        return
    if ready.remote is None:
        out.append("  offline: the remote record is not available\n", style="dim")
        return
    for key in REMOTE_FIELDS:
        if key in ready.remote:
            value = ready.remote[key]
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
    from one_tui.engine.core.spec import QC

    try:
        return QC.validate(value).name
    except (ValueError, TypeError, KeyError):
        return plain(value)
