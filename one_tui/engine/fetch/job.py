"""The download job (being written: the seam's signature is final)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from one_tui.engine.fetch.plan import FetchError
from one_tui.engine.fetch.values import DownloadPlan, DownloadReport, OnFetchProgress

if TYPE_CHECKING:
    from one_tui.engine.one import One

__all__ = ["run_download"]


def run_download(one: One, plan: DownloadPlan, *, jobs: int | None = None,
                 cancel: threading.Event | None = None,
                 on_progress: OnFetchProgress | None = None) -> DownloadReport:
    raise FetchError("the download job is not written yet")
