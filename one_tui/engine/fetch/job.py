"""The download job: a plan's files, N at once over one HTTP client, with retries and progress.

One ``httpx.Client`` (connection reuse, HTTP Basic sent up front to the data server only: one
request per file where ONE's urllib sends two), ``jobs`` files at once (default
``ONE_HTTP_DL_THREADS`` or 4, as ONE 3.x), connect and read timeouts, and for each file
attempts until it is in place: 429/5xx, timeouts, dropped connections and truncations are
retried after ``Retry-After`` (capped) or an exponential delay with jitter, resuming the
partial; a file that made no progress for ``stall`` seconds, or ran out of attempts, fails
with its reason; 401/403/404 fail at once (the others go on). A full disk stops the files not
yet started. ``cancel`` closes the open responses at once (partials kept).
Nothing in ONE's tables is written; the verify-once record notes each file put in place.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from one_tui.engine.fetch import transfer
from one_tui.engine.fetch.plan import FetchError, data_server
from one_tui.engine.fetch.urls import same_server
from one_tui.engine.fetch.values import (
    ActiveFile,
    DownloadPlan,
    DownloadReport,
    FailCause,
    FetchKind,
    FetchProgress,
    FileOutcome,
    FileTask,
    OnFetchProgress,
)
from one_tui.engine.local.verified import VerifiedRecord

if TYPE_CHECKING:
    import httpx

    from one_tui.engine.one import One

__all__ = ["run_download", "FetchLimits", "default_jobs"]


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts and retries of a download (tests shorten them)."""

    connect: float = 15.0          # seconds to connect
    read: float = 60.0             # seconds without a byte on an open response
    stall: float = 300.0           # a file with no new byte for this long fails
    attempts: int = 8              # attempts per file
    backoff: float = 1.0           # first retry delay (doubles, with jitter)
    backoff_cap: float = 60.0
    retry_after_cap: float = 300.0  # a longer Retry-After fails the file instead of waiting
    progress_every: float = 0.1    # seconds between progress events


def default_jobs() -> int:
    """ONE 3.x's ``ONE_HTTP_DL_THREADS`` (read now, not at import), else 4."""
    try:
        return max(1, min(64, int(os.environ.get("ONE_HTTP_DL_THREADS", "4"))))
    except ValueError:
        return 4


class _Tracker:
    """The job's progress: per-file bytes, the rate over the last seconds, events throttled."""

    def __init__(self, plan: DownloadPlan, on_progress: OnFetchProgress | None,
                 every: float) -> None:
        self.total = sum(t.file_size or 0 for t in plan.to_fetch)
        self.files_total = len(plan.tasks)
        self.files_done = len(plan.tasks) - len(plan.to_fetch)
        self.done: dict[str, int] = {}
        self.active: dict[str, FileTask] = {}
        self.samples: deque[tuple[float, int]] = deque()
        self.on_progress = on_progress
        self.every = every
        self.last = 0.0
        self.lock = threading.Lock()

    def _done_bytes(self) -> int:
        return sum(self.done.values())

    def start(self, task: FileTask) -> None:
        with self.lock:
            self.active[task.dataset_id] = task
            self.done.setdefault(task.dataset_id, 0)

    def set_done(self, task: FileTask, value: int) -> None:
        with self.lock:
            self.done[task.dataset_id] = value
        self.emit()

    def add(self, task: FileTask, n: int) -> None:
        with self.lock:
            self.done[task.dataset_id] = self.done.get(task.dataset_id, 0) + n
        self.emit()

    def finish(self, outcome: FileOutcome) -> None:
        with self.lock:
            self.active.pop(outcome.task.dataset_id, None)
            self.files_done += 1
            if outcome.kind is FetchKind.DONE and outcome.task.file_size is not None:
                self.done[outcome.task.dataset_id] = outcome.task.file_size
        self.emit(outcome)

    def emit(self, finished: FileOutcome | None = None) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        with self.lock:
            if finished is None and now - self.last < self.every:
                return
            self.last = now
            done = self._done_bytes()
            self.samples.append((now, done))
            while len(self.samples) > 2 and now - self.samples[0][0] > 5.0:
                self.samples.popleft()
            t0, d0 = self.samples[0]
            rate = (done - d0) / (now - t0) if now - t0 > 0.05 else 0.0
            eta = (self.total - done) / rate if rate > 0 and self.total >= done else None
            active = tuple(ActiveFile(t, self.done.get(k, 0), t.file_size)
                           for k, t in self.active.items())
            event = FetchProgress(done, self.total, rate, eta, self.files_done,
                                  self.files_total, active, finished)
        self.on_progress(event)


def _shut(response: Any) -> None:
    """Shut the response's socket: closing it does not wake a blocked recv on Linux; a
    shutdown does (as ``remote/download.py`` does for the tables)."""
    with contextlib.suppress(Exception):  # the socket may be gone already
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)


class _Responses:
    """Open responses, closed at once when the job is cancelled (a blocked read returns)."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.open: set[Any] = set()
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True,
                                       name="one-tui-fetch-cancel")
        self.thread.start()

    def _watch(self) -> None:
        while not self.finished.is_set():
            if self.cancel.wait(0.2):
                with self.lock:
                    for response in list(self.open):
                        _shut(response)
                return

    def watch(self, response: Any) -> None:
        with self.lock:
            self.open.add(response)
        if self.cancel.is_set():
            _shut(response)

    def forget(self, response: Any) -> None:
        with self.lock:
            self.open.discard(response)

    def stop(self) -> None:
        self.finished.set()


def _delay(limits: FetchLimits, tries: int, after: float | None) -> float:
    if after is not None:
        return after + random.uniform(0, 0.25 * limits.backoff)
    base = min(limits.backoff_cap, limits.backoff * 2.0 ** max(0, tries - 1))
    return float(base * random.uniform(0.5, 1.5))


def _one_file(client: httpx.Client, task: FileTask, *, auth: Any, limits: FetchLimits,
              cancel: threading.Event, tracker: _Tracker, responses: _Responses,
              disk_full: threading.Event, record: VerifiedRecord) -> FileOutcome:
    started = time.monotonic()
    received = 0
    resumed = 0
    tries = 0
    last_progress = time.monotonic()
    status: int | None = None
    tracker.start(task)
    while True:
        if cancel.is_set():
            return FileOutcome(task, FetchKind.CANCELLED, "cancelled; partial kept", None,
                               received, resumed, time.monotonic() - started)
        if disk_full.is_set():
            return FileOutcome(task, FetchKind.FAILED, "not finished: the disk is full", None,
                               received, resumed, time.monotonic() - started, FailCause.DISK)
        tries += 1
        attempt = transfer.Attempt()
        opened: list[Any] = []

        def watch(response: Any, opened: list[Any] = opened) -> None:
            opened.append(response)
            responses.watch(response)

        def on_bytes(n: int) -> None:
            nonlocal last_progress
            last_progress = time.monotonic()
            tracker.add(task, n)

        def seen(attempt: transfer.Attempt = attempt) -> None:
            nonlocal received, resumed, status
            received += attempt.received
            resumed = resumed or attempt.resumed_from
            status = attempt.status or status

        try:
            transfer.fetch_once(client, task, auth=auth, cancel=cancel, on_bytes=on_bytes,
                                watch=watch, on_start=lambda kept: tracker.set_done(task, kept),
                                attempt=attempt)
        except transfer.Cancelled:
            seen()
            return FileOutcome(task, FetchKind.CANCELLED, "cancelled; partial kept", None,
                               received, resumed, time.monotonic() - started)
        except transfer.Failed as exc:
            seen()
            if exc.disk_full:
                disk_full.set()
            return FileOutcome(task, FetchKind.FAILED, exc.reason, exc.status, received,
                               resumed, time.monotonic() - started, exc.cause)
        except transfer.Retry as exc:
            seen()
            stalled = time.monotonic() - last_progress > limits.stall
            if tries >= limits.attempts or stalled:
                why = (f"no progress for {limits.stall:.0f} s" if stalled
                       else f"{tries} attempts")
                return FileOutcome(task, FetchKind.FAILED, f"{exc.reason} ({why})",
                                   exc.status, received, resumed,
                                   time.monotonic() - started, exc.cause)
            if exc.after is not None and exc.after > limits.retry_after_cap:
                return FileOutcome(task, FetchKind.FAILED,
                                   f"{exc.reason}: the server asks to wait {exc.after:.0f} s",
                                   exc.status, received, resumed,
                                   time.monotonic() - started, exc.cause)
            cancel.wait(_delay(limits, tries, exc.after))  # a cancel ends the wait at once
            continue
        finally:
            for response in opened:
                responses.forget(response)
        seen()
        record.mark(task.target, task.hash)
        return FileOutcome(task, FetchKind.DONE, "", status, received, resumed,
                           time.monotonic() - started)


def run_download(one: One, plan: DownloadPlan, *, jobs: int | None = None,
                 cancel: threading.Event | None = None,
                 on_progress: OnFetchProgress | None = None,
                 limits: FetchLimits | None = None) -> DownloadReport:
    """Fetch ``plan.to_fetch``; the plan's other files are reported as already verified."""
    server, login = data_server(one)
    return download_tasks(plan, server=server, login=login, record=VerifiedRecord(
        Path(one.cache_dir)), jobs=jobs, cancel=cancel, on_progress=on_progress,
        limits=limits)


def download_tasks(plan: DownloadPlan, *, server: str | None, login: tuple[str, str] | None,
                   record: VerifiedRecord, jobs: int | None = None,
                   cancel: threading.Event | None = None,
                   on_progress: OnFetchProgress | None = None,
                   limits: FetchLimits | None = None,
                   transport: Callable[..., Any] | None = None) -> DownloadReport:
    """:func:`run_download` with the server and login given (the doctor's and tests' way)."""
    import httpx

    if plan.refusal is not None:
        raise FetchError(plan.refusal)
    limits = limits or FetchLimits()
    cancel = cancel or threading.Event()
    jobs = max(1, jobs or default_jobs())
    started = time.monotonic()
    fetching = {t.dataset_id for t in plan.to_fetch}
    outcomes: dict[str, FileOutcome] = {
        t.dataset_id: FileOutcome(t, FetchKind.VERIFIED, "already on this disk")
        for t in plan.tasks if t.dataset_id not in fetching}
    tracker = _Tracker(plan, on_progress, limits.progress_every)
    if plan.to_fetch and not server:
        raise FetchError("no data server: set HTTP_DATA_SERVER in ONE's settings")
    auth = httpx.BasicAuth(*login) if login is not None else None
    responses = _Responses(cancel)
    disk_full = threading.Event()
    timeout = httpx.Timeout(limits.read, connect=limits.connect)
    pool = httpx.Limits(max_connections=jobs, max_keepalive_connections=jobs)
    try:
        with httpx.Client(timeout=timeout, limits=pool, follow_redirects=True,
                          trust_env=True, headers={"User-Agent": "one-tui"}) as client:
            def run(task: FileTask) -> FileOutcome:
                task_auth = auth if server and same_server(task.url, server) else None
                try:
                    outcome = _one_file(client, task, auth=task_auth, limits=limits,
                                        cancel=cancel, tracker=tracker, responses=responses,
                                        disk_full=disk_full, record=record)
                except Exception as exc:  # noqa: BLE001 - a bug must not lose the others
                    outcome = FileOutcome(task, FetchKind.FAILED,
                                          f"{type(exc).__name__}: {exc}",
                                          cause=FailCause.OTHER)
                tracker.finish(outcome)
                return outcome

            with ThreadPoolExecutor(jobs, thread_name_prefix="one-tui-fetch") as pool_:
                for outcome in pool_.map(run, plan.to_fetch):
                    outcomes[outcome.task.dataset_id] = outcome
    finally:
        responses.stop()
        record.save()
    ordered = tuple(outcomes[t.dataset_id] for t in plan.tasks if t.dataset_id in outcomes)
    return DownloadReport(ordered, sum(o.bytes for o in ordered),
                          time.monotonic() - started, cancelled=cancel.is_set())
