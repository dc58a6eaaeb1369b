"""Reading the datasets table in the background once the first results are shown.

The first dataset search would otherwise pay for reading ``datasets.pqt`` (seconds at ten times
IBL scale). One thread worker (group ``preload``, shown as "loading datasets" in the status
line, cancelled on exit) calls
``One.preload_datasets`` and posts :class:`DatasetsPreloaded`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message
from textual.worker import Worker, get_current_worker


@dataclass
class DatasetsPreloaded(Message):
    """The background read of the datasets table ended (``ready``: queries need no read)."""

    ready: bool
    seconds: float
    notices: tuple[str, ...] = ()


class DatasetPreload:
    """Mixin for the App: ``start_dataset_preload()`` after the first results."""

    _preload_worker: Worker | None = None
    _preloaded_one: Any = None  # the tables (One's Cache) the last preload was for

    def start_dataset_preload(self) -> None:
        """Start the background read once per set of tables (a new download or a refresh
        replaces them: read again); a no-op while one runs or after."""
        one = getattr(self, "one", None)
        if one is None or not hasattr(one, "preload_datasets"):
            return
        tables = getattr(one, "_cache", one)
        if tables is self._preloaded_one or getattr(one, "mode", None) == "remote":
            return  # done for these tables, or remote: queries ask Alyx
        self._preloaded_one = tables
        self._preload_worker = self._preload_datasets(one)

    def cancel_dataset_preload(self) -> None:
        if self._preload_worker is not None:
            self._preload_worker.cancel()
            self._preload_worker = None

    @work(thread=True, exclusive=True, group="preload", exit_on_error=False,
          description="load datasets")
    def _preload_datasets(self, one: Any) -> None:
        import time

        worker = get_current_worker()
        started = time.perf_counter()
        # through One.ask: what the read found (a corrupt datasets.pqt) comes back as the
        # answer's notices, the app's one way of hearing about them
        answer = one.ask("preload_datasets", cancel=worker.cancelled_event)
        ready = bool(answer.ok and answer.value)
        notices = answer.notices + ((f"datasets not loaded: {answer.error}",)
                                    if answer.error is not None else ())
        self.post_message(DatasetsPreloaded(ready, time.perf_counter() - started,  # type: ignore[attr-defined]
                                            notices))

    def on_datasets_preloaded(self, message: DatasetsPreloaded) -> None:
        self._preload_worker = None
        show = getattr(self, "_show_notices", None)
        if show is not None and message.notices:
            show(message.notices)
        render = getattr(self, "_render_status", None)
        if render is not None:
            render()
