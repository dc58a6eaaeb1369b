"""What an engine call did, returned with its value instead of left in flags for the caller.

Two kinds of result:

* :class:`Answer` (a query: search, details, lists): the value, where it came from (``local
  tables`` / ``REST cache`` / ``Alyx``), whether it was cancelled or answered from a stale REST
  entry, the one-line notices raised while it ran, the fallback it caused, or the error it ended
  with. ``One.ask(name, ..., no_cache=..., cancel=...)`` returns one.
* :class:`Outcome` (a job: connecting, downloading or refreshing the tables): what happened, as an
  :class:`~one_tui.engine.core.types.OutcomeKind` to decide on and one line a user can trust
  ("Alyx has nothing newer", "unreachable: connection refused", ...).

A fallback to local travels as a :class:`Fallback` (the mode asked for, a
:class:`~one_tui.engine.core.types.FallbackReason` and the line shown), so nobody parses its text.
:class:`Notices` is where an engine part puts a warning for the user.

While a call runs, the engine writes what it does into the calling thread's :class:`Recorder`
(``recording()``), never into the shared ``One`` or ``AlyxClient``: two workers running at once
each get their own record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from one_tui.engine.core.spec import shown
from one_tui.engine.core.types import FallbackReason, Mode, OutcomeKind, Source

__all__ = ["Answer", "Outcome", "Fallback", "Notices", "Recorder", "recording", "current",
           "note", "Phase", "Progress", "LOCAL", "REST_CACHE", "ALYX"]

log = logging.getLogger("one_tui.engine")

LOCAL, REST_CACHE, ALYX = Source.LOCAL, Source.REST_CACHE, Source.ALYX
T = TypeVar("T")

#: A job's progress: (phase, done, total); done/total are bytes or items, None when unknown.
Phase = Callable[[str, "int | None", "int | None"], None]
#: A long call's progress: (items or bytes so far, total).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Fallback:
    """Why the mode fell back to local: the app decides on ``reason`` (e.g. ``wants_login``),
    the user reads ``text`` ("auto → local: Alyx unreachable (connection refused)")."""

    requested: Mode
    reason: FallbackReason
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Recorder:
    """What the calling thread's current call did so far (filled by the engine as it works)."""

    network: bool = False      # at least one answer came from Alyx itself
    cached: bool = False       # at least one answer came from the REST cache
    stale: bool = False        # ... and one of those was a stale entry (Alyx unreachable)
    cancelled: bool = False
    notices: list[str] = field(default_factory=list)
    fallback: Fallback | None = None
    isolated: bool = False     # sources do not count for the enclosing call (cache/info)

    @property
    def source(self) -> Source:
        if self.network:
            return Source.ALYX
        return Source.REST_CACHE if self.cached else Source.LOCAL

    def answer(self, value: T | None = None, error: BaseException | None = None) -> Answer[T]:
        return Answer(value, self.source, self.cancelled, self.stale, tuple(self.notices),
                      self.fallback, error)


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A query's value (None when it failed) and what happened while it ran."""

    value: T | None
    source: Source = LOCAL
    cancelled: bool = False
    stale: bool = False
    notices: tuple[str, ...] = ()
    fallback: Fallback | None = None     # when this call made the mode fall back
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T | None:
        """The value, or the error raised."""
        if self.error is not None:
            raise self.error
        return self.value


@dataclass(frozen=True)
class Outcome:
    """How a job ended, in one line: never "no newer tables" unless Alyx was asked."""

    kind: OutcomeKind
    message: str
    created: datetime | None = None       # creation time of the tables in use afterwards
    notices: tuple[str, ...] = ()
    asked_alyx: bool = False
    detail: str | None = None             # the error behind a failure, one line

    def __post_init__(self) -> None:
        # the enum, also when a caller names the kind by its value ("new-tables")
        object.__setattr__(self, "kind", OutcomeKind(self.kind))

    @property
    def replaced(self) -> bool:
        return self.kind is OutcomeKind.NEW_TABLES

    @property
    def failed(self) -> bool:
        return self.kind.failed


_local = threading.local()


def _stack() -> list[Recorder]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current() -> Recorder | None:
    """The calling thread's innermost record, None outside any call."""
    stack = _stack()
    return stack[-1] if stack else None


@contextmanager
def recording(isolated: bool = False) -> Iterator[Recorder]:
    """Record what this thread does inside the block. On exit, notices, the fallback and (unless
    ``isolated``) the answer's source and cancel are added to the enclosing record."""
    rec = Recorder(isolated=isolated)
    stack = _stack()
    stack.append(rec)
    try:
        yield rec
    finally:
        stack.pop()
        if stack:
            parent = stack[-1]
            parent.notices.extend(n for n in rec.notices if n not in parent.notices)
            parent.fallback = rec.fallback or parent.fallback
            if not isolated:
                parent.network |= rec.network
                parent.cached |= rec.cached
                parent.stale |= rec.stale
                parent.cancelled |= rec.cancelled


def note(message: str) -> bool:
    """Give a notice to the current call; False when no call is recording (then the caller keeps
    it in its own ``notices`` list, for scripts that use the engine as they would use ONE)."""
    rec = current()
    if rec is None:
        return False
    if message not in rec.notices:
        rec.notices.append(message)
    return True


def answered(*, network: bool = False, cached: bool = False, stale: bool = False) -> None:
    rec = current()
    if rec is not None:
        rec.network |= network
        rec.cached |= cached
        rec.stale |= stale


def cancelled() -> None:
    rec = current()
    if rec is not None:
        rec.cancelled = True


class Notices:
    """One-line warnings for the user, from any part of the engine.

    A warning goes to the calling thread's current call (returned in its Answer / Outcome); with
    no call recording, it is kept in ``pending`` for scripts that use ``One`` as they would use
    ONE (``one.notices``). Control characters (file names in a shared folder, server text) are
    escaped, so a notice stays one line and cannot drive the terminal it is printed on.
    """

    def __init__(self) -> None:
        self.pending: list[str] = []

    def warn(self, message: str) -> None:
        """Log ``message`` and give it to the user."""
        message = shown(message, limit=500)
        log.warning(message)
        self.queue(message)

    def queue(self, message: str) -> None:
        """Give ``message`` to the user without logging it (it was logged where it arose)."""
        if not note(message):
            self.pending.append(message)

    def take_from(self, source: list[str]) -> None:
        """Move another object's notices (the HTTP client's) here; another thread may be
        draining the same list, so each is popped, never copied."""
        while True:
            try:
                message = source.pop(0)
            except IndexError:
                return
            self.queue(shown(message, limit=500))
