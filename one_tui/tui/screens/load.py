"""The load-line modal (`o`): the ONE line that fits what is selected, ready to paste.

A dataset of the session → ``one.load_dataset(eid, '<rel_path>')`` (ONE-api accepts the whole
relative path, revision folder included); an object it has → ``one.load_object(eid, obj,
collection=...)``; and the ``ONE(base_url=..., cache_dir=...)`` line that opens the same
database and cache folder as this app.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from one_tui.engine.core.values import DatasetRow
from one_tui.tui.screens.modal import CloseableModal

# ALF file names: _namespace_object.attribute[_timescale][.extra].ext (one.alf.spec)
_ALF_OBJECT = re.compile(r"^(?:_(?P<namespace>[^_.]+)_)?(?P<object>[^._][^.]*)\.")


def alf_object(name: str) -> str | None:
    """The ALF object of a file name: '_ibl_trials.table.pqt' -> 'trials'."""
    found = _ALF_OBJECT.match(name)
    return found.group("object") if found else None


def one_constructor(base_url: str | None, cache_dir: Path | str | None,
                    tag: str | None = None) -> str:
    """The ONE constructor for this app's database and cache folder; with a release tag
    active, ONE in local mode on the tag's tables (``load_cache(tag=...)`` would download them
    again in a new process, and 3.x would stay remote and ignore them: one-downloads.md §2.3)."""
    folder = repr(str(cache_dir)) if cache_dir else None
    if tag and cache_dir:
        url = f"base_url={base_url!r}, " if base_url else ""
        tables = repr(str(Path(cache_dir) / tag))
        return (f"one = ONE({url}cache_dir={folder}, mode='local'); "
                f"one.load_cache(tables_dir={tables})")
    if base_url and folder:
        return f"one = ONE(base_url={base_url!r}, cache_dir={folder})"
    if base_url:
        return f"one = ONE(base_url={base_url!r})"
    return f"one = ONE(cache_dir={folder}, mode='local')"


def load_lines(eid: str, datasets: Sequence[DatasetRow] | None, base_url: str | None,
               cache_dir: Path | str | None, tag: str | None = None) -> list[tuple[str, str]]:
    """(line, what it is) for the session: ONE first, then its objects, then each dataset.

    Without the session's datasets (details not opened) only what needs none is offered."""
    lines = [(f"from one.api import ONE; {one_constructor(base_url, cache_dir, tag)}", "ONE")]
    if datasets is None:
        lines.append((f"one.list_datasets({eid!r})", "list datasets"))
        return lines
    objects: dict[tuple[str, str], None] = {}
    for d in datasets:
        obj = alf_object(d.name)
        if obj and d.exists:
            objects[(d.collection, obj)] = None
    # trials first: the object most sessions are opened for
    for collection, obj in sorted(objects, key=lambda k: (k[1] != "trials", k)):
        lines.append((f"one.load_object({eid!r}, {obj!r}, collection={collection!r})", "object"))
    for d in sorted(datasets, key=lambda r: r.rel_path):
        if d.rel_path and d.exists:
            lines.append((f"one.load_dataset({eid!r}, {d.rel_path!r})", "dataset"))
    return lines


class LoadModal(CloseableModal):
    """Dismisses with the chosen line (the app copies it)."""

    def __init__(self, lines: list[tuple[str, str]], note: str = "", eid: str = "") -> None:
        super().__init__()
        self.lines = lines
        self.note = note
        self.eid = eid

    def compose(self) -> ComposeResult:
        with Vertical(id="load-box", classes="modal-box"):
            if self.eid:  # shown once here, as `eid` in the lines (copied in full)
                yield Static(f"eid = {self.eid!r}", markup=False)
            if self.note:
                yield Static(self.note, classes="hint", markup=False)
            shown = [line.replace(repr(self.eid), "eid") if self.eid else line
                     for line, _ in self.lines]
            yield OptionList(*[Option(text, id=str(i)) for i, text in enumerate(shown)],
                             id="load-options")
            yield Static("enter copy · esc/q close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#load-box").border_title = "Copy a ONE line"
        options = self.query_one("#load-options", OptionList)
        options.highlighted = 1 if len(self.lines) > 1 else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.lines[int(event.option.id or 0)][0])
