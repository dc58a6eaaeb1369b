"""A subject's training history and a result's counts, as values the app draws as they are.

Vocabulary only (standard library): the stage a task protocol names, one session of a
subject's history, the history with what it lacks, and the counts of a set of sessions. The
rules that read them (which protocol is which stage, when the protocol changed, what
performance is, the CSV and the ONE lines behind a plot) live here once, so the app, the tests
and the CSV agree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

__all__ = ["Stage", "stage_of", "Lacking", "SubjectSession", "SubjectHistory",
           "trained_status", "CountRow", "SessionCounts", "TRAINING_STATUSES"]


class Stage(StrEnum):
    """The IBL task protocol's stage, in the order a mouse goes through them."""

    NONE = "none"                 # no protocol (histology, a session without a task)
    HABITUATION = "habituation"
    TRAINING = "training"
    BIASED = "biased"
    EPHYS = "ephys"
    OTHER = "other"               # a protocol of another task

    @property
    def rank(self) -> int:
        """Height on the plot's protocol track (none 0 ... ephys 4; other 2.5)."""
        return _RANK[self]


_RANK = {Stage.NONE: 0, Stage.HABITUATION: 1, Stage.TRAINING: 2, Stage.BIASED: 3,
         Stage.EPHYS: 4, Stage.OTHER: 0}
# checked in this order: "ephysChoiceWorld/passiveChoiceWorld" is ephys, a habituation
# protocol named "...trainingChoiceWorld" would be a rig's typo we read as habituation
_WORDS = (("habituation", Stage.HABITUATION), ("ephys", Stage.EPHYS),
          ("biased", Stage.BIASED), ("training", Stage.TRAINING))


def stage_of(task_protocol: str | None) -> Stage:
    """'_iblrig_tasks_biasedChoiceWorld6.4.2' -> BIASED; '' or None -> NONE."""
    text = (task_protocol or "").strip().lower()
    if not text:
        return Stage.NONE
    for word, stage in _WORDS:
        if word in text:
            return stage
    return Stage.OTHER


class Lacking(StrEnum):
    """Why the history has no performance (or only part of it); the text is what the plot
    says."""

    LOCAL_MODE = "performance needs Alyx: the mode is local (the protocol timeline is " \
                 "from the tables)"
    NO_DATABASE = "performance needs Alyx: no database is set up (the protocol timeline " \
                  "is from the tables)"
    UNREACHABLE = "performance needs Alyx: Alyx is unreachable (shown: what was fetched)"
    LOGIN = "performance needs Alyx: log in first (shown: what was fetched)"
    CANCELLED = "cancelled: performance of the sessions fetched so far"


#: Alyx's training statuses (ibllib's ``trained_criteria`` keys), earliest first.
TRAINING_STATUSES = ("in_training", "trained_1a", "trained_1b", "ready4ephysrig",
                     "ready4delay", "ready4recording")


@dataclass(frozen=True)
class SubjectSession:
    """One session of the subject: from the tables (date, number, protocol, eid) and, when
    Alyx was asked, its record's trial counts (None: not fetched, or Alyx has none)."""

    eid: str
    date: date
    number: int
    task_protocol: str
    n_trials: int | None = None
    n_correct_trials: int | None = None
    fetched: bool = False          # its /sessions/<eid> record was read

    @property
    def stage(self) -> Stage:
        return stage_of(self.task_protocol)

    @property
    def performance(self) -> float | None:
        """% correct (Alyx's ``performance`` rule: 100 * n_correct / n_trials), None without
        both counts."""
        if not self.n_trials or self.n_correct_trials is None:
            return None
        return round(100 * self.n_correct_trials / self.n_trials, 1)

    @property
    def no_performance(self) -> bool:
        """A session the plot marks as "no trials": habituation (Alyx keeps n_trials but no
        n_correct_trials) or a fetched record without both counts."""
        return self.stage is Stage.HABITUATION or (self.fetched and self.performance is None)


@dataclass(frozen=True)
class SubjectHistory:
    """A subject's sessions, oldest first, with what Alyx added and what is missing."""

    subject: str
    sessions: tuple[SubjectSession, ...] = ()
    lab: str | None = None
    base_url: str | None = None
    #: the subject's latest training status on Alyx (``json.trained_criteria``) and its day
    training_status: str | None = None
    training_status_date: str | None = None
    #: why performance is missing or partial (None: every session's record was read)
    lacking: Lacking | None = None
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fetched(self) -> int:
        return sum(1 for s in self.sessions if s.fetched)

    @property
    def has_performance(self) -> bool:
        return any(s.performance is not None for s in self.sessions)

    @property
    def protocol_changes(self) -> tuple[tuple[date, Stage], ...]:
        """(day, new stage) each time the stage changed, sessions without a protocol skipped;
        the first session's stage is the start, not a change."""
        out: list[tuple[date, Stage]] = []
        last: Stage | None = None
        for s in self.sessions:
            stage = s.stage
            if stage is Stage.NONE:
                continue
            if last is not None and stage is not last:
                out.append((s.date, stage))
            last = stage
        return tuple(out)

    def csv(self) -> str:
        """The data behind the plot: one line per session, oldest first."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["date", "number", "eid", "task_protocol", "stage", "n_trials",
                         "n_correct_trials", "performance"])
        for s in self.sessions:
            writer.writerow([s.date.isoformat(), s.number, s.eid, _cell(s.task_protocol),
                             s.stage.value, _blank(s.n_trials), _blank(s.n_correct_trials),
                             _blank(s.performance)])
        return buf.getvalue()

    def one_lines(self) -> str:
        """The ONE-api lines that fetch the same data (Python)."""
        base = f"base_url={self.base_url!r}" if self.base_url else ""
        return "\n".join((
            "from one.api import ONE",
            f"one = ONE({base})",
            f"eids, info = one.search(subject={self.subject!r}, details=True)",
            "records = [one.alyx.rest('sessions', 'read', id=eid) for eid in eids]",
            "rows = [(r['start_time'][:10], r['number'], r['task_protocol'], r['n_trials'], "
            "r['n_correct_trials']) for r in records]",
            f"status = (one.alyx.rest('subjects', 'read', id={self.subject!r})['json'] or {{}})"
            ".get('trained_criteria')",
        ))


def _blank(value: object) -> object:
    return "" if value is None else value


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def trained_status(subject_record: object) -> tuple[str | None, str | None]:
    """(latest status, its day) from a ``/subjects/<nickname>`` record's
    ``json.trained_criteria`` ({status: [day, eid]}, written by ibllib); (None, None) when
    Alyx has none."""
    if not isinstance(subject_record, dict):
        return None, None
    blob = subject_record.get("json")
    criteria = blob.get("trained_criteria") if isinstance(blob, dict) else None
    if not isinstance(criteria, dict) or not criteria:
        return None, None
    best: tuple[str, int, str] | None = None
    for status, value in criteria.items():
        day = value[0] if isinstance(value, list | tuple) and value else value
        order = TRAINING_STATUSES.index(status) if status in TRAINING_STATUSES else -1
        key = (str(day or ""), order, str(status))
        if best is None or key > best:
            best = key
    return (best[2], best[0] or None) if best else (None, None)


@dataclass(frozen=True)
class CountRow:
    """One value of a column and how many sessions have it."""

    value: str
    sessions: int


@dataclass(frozen=True)
class SessionCounts:
    """Sessions per value of each column (most first), and per week or month of the range."""

    total: int
    by: dict[str, tuple[CountRow, ...]] = field(default_factory=dict)
    #: "week" or "month" (whichever gives a readable number of bins), and its bins, oldest
    #: first: (first day of the bin, sessions)
    period: str = "week"
    timeline: tuple[tuple[date, int], ...] = ()
