"""What a user takes out of the app or brings into it besides the filters: a session opened by
its eid or folder (``g``), the search as a ONE call (``L``) and the eids as a Python list
(``E``). Plain functions and one message; the main screen binds them to keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from textual.message import Message

from one_tui.engine.core.results import Answer
from one_tui.engine.core.spec import QC
from one_tui.engine.core.types import Mode

if TYPE_CHECKING:
    import pyarrow as pa


class Finder(Protocol):
    def find_session(self, text: str) -> Answer[str]: ...


@dataclass
class SessionFound(Message):
    """``g``: what was pasted and the eid it names (None: no such session; ``error``: why)."""

    text: str
    answer: Answer[str]


def goto(service: Finder, text: str, post: Callable[[Message], object]) -> None:
    """The worker body of ``g``: the engine reads the pasted text (tables, then Alyx)."""
    post(SessionFound(text, service.find_session(text)))


def one_search_line(terms: Mapping[str, Any], remote: bool) -> str:
    """The search as ONE runs it, to paste into Python: its terms and where it ran
    (``query_type``, so the line gives the same answer in ONE 2.x and 3.x whatever their
    default mode)."""
    shown = {key: QC(value).name if key in ("qc", "dataset_qc_lte") and isinstance(value, int)
             else value for key, value in terms.items() if key != "limit"}
    args = [f"{key}={value!r}" for key, value in shown.items()]  # Alyx wants QC by name
    args.append(f"query_type={str(Mode.REMOTE if remote else Mode.LOCAL)!r}")
    return f"one.search({', '.join(args)})"


def version_note(terms: Mapping[str, Any]) -> str:
    """Which ONE the copied line runs in, when not both: ``datasets`` (exact file names, the
    app's field) is ONE 3.x's; ONE 2.11.2 refuses it (its ``dataset`` matches part of a path)."""
    return "ONE 3.x: ONE 2.x has no 'datasets' term" if "datasets" in terms else ""


def eids_line(table: pa.Table | None) -> str | None:
    """The result's eids in the order shown, as a Python list (None: no rows)."""
    if table is None or table.num_rows == 0 or "eid" not in table.column_names:
        return None
    return repr([str(e) for e in table.column("eid").to_pylist()])
