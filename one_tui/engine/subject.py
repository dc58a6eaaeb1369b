"""A subject's training history, as one use case: what the subject view plots.

The sessions (day, number, protocol, eid) come from the tables, so the protocol timeline is
there in every mode. Performance is not in ONE's tables: it is in each session's Alyx record
(``/sessions/<eid>``: ``n_trials``, ``n_correct_trials``), so in a mode that may ask Alyx each
record is read through the REST cache (a second look costs no request), a few at a time, under
the :class:`~one_tui.engine.remote.pacing.Pacer` that keeps the burst below Alyx's throttle,
with progress after each and a cancel between them. The subject's training status is in its
``/subjects/<nickname>`` record (``json.trained_criteria``) where ibllib wrote one.

Each thread of the pool records its own call (``results.recording`` is per thread); what they
did (network, REST cache, stale, notices) is added to the caller's record here, so the
service's answer says where the history came from.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from one_tui.engine.core import results
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    HTTPError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.history import Lacking, SubjectHistory, SubjectSession, trained_status
from one_tui.engine.core.spec import one_line
from one_tui.engine.core.types import Mode
from one_tui.engine.remote.client import no_cache as bypass
from one_tui.engine.remote.pacing import Pacer

if TYPE_CHECKING:
    import pandas as pd

    from one_tui.engine.backend import AlyxBackend
    from one_tui.engine.one import One

__all__ = ["CONCURRENCY", "subject_history"]

#: Requests in flight at once: enough to hide Alyx's ~50-100 ms a record, few enough that a
#: busy server sees one user, not a crowd (ONE's own ``rest`` sends one at a time).
CONCURRENCY = 4

Progress = Callable[[int, int], None]


def subject_history(one: One, nickname: str, *, ask_alyx: bool = True,
                    cancel: threading.Event | None = None, on_progress: Progress | None = None,
                    pacer: Pacer | None = None, no_cache: bool = False) -> SubjectHistory:
    """The subject's sessions oldest first; online (and ``ask_alyx``) with each record's trial
    counts and the subject's training status. Never raises for Alyx's failures: the history
    says what it lacks (``lacking``)."""
    frame = _sessions(one, nickname, cancel)
    rows = _rows(frame, nickname)
    lab = str(frame["lab"].iloc[0]) if len(frame) and "lab" in frame.columns else None
    backend = one.remote
    base_url = backend.client.base_url if backend is not None else None
    if backend is None:
        return SubjectHistory(nickname, rows, lab, base_url, lacking=Lacking.NO_DATABASE)
    if one.offline or not ask_alyx:
        return SubjectHistory(nickname, rows, lab, base_url, lacking=Lacking.LOCAL_MODE)
    fetch = _Fetch(backend, cancel, pacer or Pacer(), no_cache)
    status, status_day = trained_status(fetch.one("subjects", nickname))
    sessions = fetch.all(rows, on_progress)
    return SubjectHistory(nickname, sessions, lab, base_url, status, status_day,
                          lacking=fetch.lacking)


def _sessions(one: One, nickname: str, cancel: threading.Event | None) -> pd.DataFrame:
    """The subject's rows of the tables; online, Alyx's list when the tables have none
    (a subject newer than the tables)."""
    # ONE's subject term is a regular expression (a substring without wildcards): anchored
    # and escaped, it names this subject only, whatever characters its nickname has
    term = f"^{re.escape(nickname)}$" if one.wildcards else nickname
    frame = one.search_sessions(query_type=str(Mode.LOCAL), subject=term)
    frame = frame[frame["subject"].astype(str) == nickname] if len(frame) else frame
    if len(frame) or one.remote is None or one.offline:
        return frame
    with results.recording():  # its source counts for the history
        remote = one.search_sessions(query_type=str(Mode.REMOTE), subject=nickname,
                                     cancel=cancel)
    return remote[remote["subject"].astype(str) == nickname] if len(remote) else remote


def _rows(frame: pd.DataFrame, nickname: str) -> tuple[SubjectSession, ...]:
    import pandas as pd

    if len(frame) == 0:
        return ()
    days = pd.to_datetime(frame["date"], errors="coerce")
    numbers = pd.to_numeric(frame.get("number", pd.Series(1, index=frame.index)),
                            errors="coerce").fillna(1).astype(int)
    protocols = frame.get("task_protocol", pd.Series("", index=frame.index)).fillna("")
    out = [SubjectSession(str(eid), day.date(), int(n), str(p))
           for eid, day, n, p in zip(frame.index, days, numbers, protocols, strict=True)
           if not pd.isna(day)]
    out.sort(key=lambda s: (s.date, s.number))
    return tuple(out)


class _Fetch:
    """Alyx reads of one history: paced, a few at a time, each thread's record folded into
    the caller's."""

    def __init__(self, backend: AlyxBackend, cancel: threading.Event | None, pacer: Pacer,
                 no_cache: bool) -> None:
        self.backend = backend
        self.cancel = cancel or threading.Event()
        self.pacer = pacer
        self.no_cache = no_cache
        self.lacking: Lacking | None = None
        self._stop = threading.Event()  # Alyx unreachable or the login refused: no more reads

    def one(self, endpoint: str, id_: str) -> dict[str, Any] | None:
        """One record (None: Alyx has none, or it could not be had: ``lacking`` says why)."""
        record, rec = self._read(endpoint, id_)
        if rec is not None:
            results.answered(network=rec.network, cached=rec.cached, stale=rec.stale)
            for text in rec.notices:
                results.note(text)
        return record

    def _read(self, endpoint: str, id_: str) -> tuple[dict[str, Any] | None,
                                                       results.Recorder | None]:
        if self.cancel.is_set() or self._stop.is_set():
            return None, None
        token = self.pacer.acquire(self.cancel)
        if token is None:
            return None, None
        record: Any = None
        with results.recording() as rec:
            try:
                if self.no_cache:
                    with bypass(self.backend.client):
                        record = self.backend.rest(endpoint, "read", id=id_, cancel=self.cancel)
                else:
                    record = self.backend.rest(endpoint, "read", id=id_, cancel=self.cancel)
            except HTTPError as exc:
                if exc.status_code != 404:
                    rec.notices.append(f"{endpoint}/{id_}: {one_line(exc)}")
            except AlyxConnectionError:
                self._halt(Lacking.UNREACHABLE)
            except (LoginRequired, AuthenticationError, OfflineError):
                self._halt(Lacking.LOGIN)
            except AlyxError as exc:
                rec.notices.append(f"{endpoint}/{id_}: {one_line(exc)}")
        if not rec.network:
            self.pacer.release(token)
        return (record if isinstance(record, dict) and record else None), rec

    def _halt(self, why: Lacking) -> None:
        self.lacking = why
        self._stop.set()

    def all(self, rows: tuple[SubjectSession, ...], on_progress: Progress | None
            ) -> tuple[SubjectSession, ...]:
        """Every session completed by its record; the first read alone (it logs in when
        needed), then CONCURRENCY at a time."""
        total, done = len(rows), 0
        out = {s.eid: s for s in rows}
        if on_progress:
            on_progress(0, total)
        pending = list(rows)
        if pending:
            first = pending.pop(0)
            out[first.eid] = self._fold(first, *self._read("sessions", first.eid))
            done += 1
            if on_progress:
                on_progress(done, total)
        with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="one-tui-subject") as pool:
            running: dict[Future[Any], SubjectSession] = {}
            while pending or running:
                while pending and len(running) < CONCURRENCY and not self._halted:
                    s = pending.pop(0)
                    running[pool.submit(self._read, "sessions", s.eid)] = s
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    s = running.pop(future)
                    out[s.eid] = self._fold(s, *future.result())
                    done += 1
                    if on_progress:
                        on_progress(done, total)
        if self.cancel.is_set():
            results.cancelled()
            self.lacking = self.lacking or Lacking.CANCELLED
        return tuple(out[s.eid] for s in rows)

    @property
    def _halted(self) -> bool:
        return self.cancel.is_set() or self._stop.is_set()

    def _fold(self, session: SubjectSession, record: dict[str, Any] | None,
              rec: results.Recorder | None) -> SubjectSession:
        if rec is not None:
            results.answered(network=rec.network, cached=rec.cached, stale=rec.stale)
            for text in rec.notices:
                results.note(text)
        if record is None:
            return session
        return SubjectSession(session.eid, session.date, session.number,
                              session.task_protocol or str(record.get("task_protocol") or ""),
                              _count(record.get("n_trials")),
                              _count(record.get("n_correct_trials")), fetched=True)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
