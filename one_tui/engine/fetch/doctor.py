"""The disk doctor (being written: the seam's signatures are final)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from one_tui.engine.core.results import Outcome
from one_tui.engine.fetch.plan import FetchError
from one_tui.engine.fetch.values import (
    DiskAction,
    DiskFinding,
    DiskReport,
    OnFetchProgress,
    Selection,
)

if TYPE_CHECKING:
    from one_tui.engine.one import One

__all__ = ["check_disk", "fix_disk"]


def check_disk(one: One, eids: list[str], selection: Selection, *,
               uuid_filenames: bool | None = None, verify: bool = False,
               cancel: threading.Event | None = None,
               on_progress: OnFetchProgress | None = None) -> DiskReport:
    raise FetchError("the disk doctor is not written yet")


def fix_disk(one: One, findings: tuple[DiskFinding, ...], action: DiskAction, *,
             jobs: int | None = None, cancel: threading.Event | None = None,
             on_progress: OnFetchProgress | None = None) -> Outcome:
    raise FetchError("the disk doctor is not written yet")
