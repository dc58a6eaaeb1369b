"""Getting data from the app: what a download's request, question, progress and end say, and
the bodies of its workers.

``D`` in Details downloads the marked datasets (none marked: the dataset or collection under
the cursor); from the sessions, the datasets the last search's dataset filter names, of the
marked sessions (none marked: of every session of the results). First the plan (a worker:
which files ONE would still download, the bytes, the free space on the target filesystem); a
plan that does not fit is refused with the reason, otherwise the user is asked, with those
numbers. Then the download (a worker posting ``DownloadProgress`` at most every 0.25 s and
``DownloadFileDone`` per file); escape cancels and keeps the partial files. ``K`` is the disk
doctor, ``V`` verifies every file (re-hash).

Nothing here reads or writes the app's state: the bodies only post messages
(``tui/messages.py``), the texts are pure functions (tests/tui/test_downloads_text.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from one_tui.engine.core.spec import one_line
from one_tui.text import fmt_seconds, fmt_size, plural
from one_tui.tui.messages import (
    DiskChecked,
    DownloadDone,
    DownloadFileDone,
    DownloadPlanned,
    DownloadProgress,
    JobDone,
    JobProgress,
    Notices,
)
from one_tui.tui.state import Job

if TYPE_CHECKING:
    from one_tui.engine import (
        DiskAction,
        DiskFinding,
        DiskReport,
        DownloadPlan,
        DownloadReport,
        EngineService,
        FetchProgress,
    )

Post = Callable[[Any], object]

PROGRESS_EVERY = 0.25  # seconds between progress messages
ACTIVE_SHOWN = 3       # active files listed in the panel (80x24: the panes keep their rows)
LOGIN_SETTINGS = "HTTP_DATA_SERVER_LOGIN and HTTP_DATA_SERVER_PWD"


@dataclass(frozen=True)
class DownloadRequest:
    """What D asked for, as the plan's arguments: sessions and selectors, and in words."""

    eids: tuple[str, ...]
    what: str
    dataset_ids: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    all_revisions: bool = False


# ---------------------------------------------------------------- texts (pure)

def plan_summary(plan: DownloadPlan) -> str:
    """'12 files, 40.1 MB to fetch (3 already on this disk); 120.4 GB free in <folder>'."""
    n = len(plan.to_fetch)
    have = len(plan.tasks) - n
    text = f"{plural(n, 'file')}, {fmt_size(plan.fetch_bytes)} to fetch"
    if have:
        text += f" ({have} already on this disk)"
    free = "unknown" if plan.free_bytes is None else fmt_size(plan.free_bytes)
    return f"{text}; {free} free in {plan.cache_dir}"


def plan_question(plan: DownloadPlan, what: str) -> str:
    """One paragraph (the confirm box shows a line break as its escape)."""
    return (f"Download {what}? {plan_summary(plan)}. Files go where ONE-api looks for them; "
            "escape cancels, partial files are kept and resumed.")


def refusal_text(plan: DownloadPlan, what: str) -> str:
    """Why a download does not start, with the numbers (the plan's reason first)."""
    return f"Not downloaded ({what}): {plan.refusal}. {plan_summary(plan)}."


def nothing_to_fetch(plan: DownloadPlan, what: str) -> str:
    return (f"Nothing to download ({what}): all {plural(len(plan.tasks), 'file')} "
            "already on this disk, as ONE-api would load them.")


def report_toast(report: DownloadReport, what: str) -> tuple[str, str]:
    """(text, severity) of the toast at the end: what happened, and for a refused login or a
    file the server does not have, what to do about it."""
    from one_tui.engine import FailCause, FetchKind

    failed = report.failed
    ok = [o for o in report.outcomes if o.kind.ok]
    head = f"Download {'cancelled' if report.cancelled else 'done'} ({what}): {report.message}"
    if report.cancelled:
        return (f"{head}. Partial files are kept: D again resumes them.", "warning")
    if not failed:
        return head, "information"
    lines = [head]
    login = [o for o in failed if o.cause is FailCause.LOGIN]
    if login:
        lines.append(f"The data server refused the login (HTTP {login[0].status or 401}): set "
                     f"{LOGIN_SETTINGS} in ONE's settings for this database "
                     "(~/.one, or one.params.setup()).")
    absent = [o for o in failed if o.cause is FailCause.NOT_FOUND]
    if absent:
        names = ", ".join(o.task.rel_path for o in absent[:3])
        more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
        lines.append(f"Not on the data server (HTTP 404): {names}{more}.")
    others = [o for o in failed if o.cause not in (FailCause.LOGIN, FailCause.NOT_FOUND)]
    if others:
        lines.append(f"Failed: {others[0].task.rel_path}: {others[0].reason}"
                     + (f" (and {len(others) - 1} more)" if len(others) > 1 else ""))
    if ok:
        done = report.count(FetchKind.DONE)
        lines.append(f"The other {plural(len(ok), 'file')} are complete and verified"
                     f" ({done} downloaded now).")
    return "\n".join(lines), "error" if not ok else "warning"


def bar(fraction: float, width: int = 24) -> str:
    fraction = max(0.0, min(1.0, fraction))
    full = int(fraction * width)
    return "█" * full + "░" * (width - full)


def progress_text(p: FetchProgress) -> Text:
    """The panel: the total (bytes, %, rate, ETA, files left) and the files being fetched
    (what is downloaded is the panel's title)."""
    out = Text()
    fraction = p.done_bytes / p.total_bytes if p.total_bytes else (
        p.files_done / p.files_total if p.files_total else 0.0)
    out.append(f" {bar(fraction)} ", style="cyan")
    out.append(f"{fraction:4.0%}  {fmt_size(p.done_bytes)} of {fmt_size(p.total_bytes)}  "
               f"{fmt_size(p.rate)}/s  ETA {fmt_seconds(p.eta)}\n", style="bold")
    out.append(f" {p.files_left} of {plural(p.files_total, 'file')} left · esc cancels, "
               "partials are kept\n", style="dim")
    for a in p.active[:ACTIVE_SHOWN]:
        share = f"{a.done / a.total:4.0%}" if a.total else "   ?"
        out.append(f"   ↓ {share}  {a.task.rel_path}  ({fmt_size(a.total)})\n")
    if len(p.active) > ACTIVE_SHOWN:
        out.append(f"   … and {len(p.active) - ACTIVE_SHOWN} more\n", style="dim")
    out.rstrip()
    return out


def phase_text(p: FetchProgress) -> str:
    """The status line's word for the job (it names the job and how far)."""
    if p.phase == "check":
        return f"checking files on this disk {p.files_done}/{p.files_total} — esc cancels"
    fraction = p.done_bytes / p.total_bytes if p.total_bytes else 0.0
    return f"downloading {fraction:.0%}, {plural(p.files_left, 'file')} left — esc cancels"


def finding_line(f: DiskFinding) -> str:
    """'size mismatch: alf/x.npy (5 B here, 201.0 kB in the table)' (why: ``state_notes``)."""
    size = "" if f.size is None else f" ({fmt_size(f.size)} here"
    if size and f.task.file_size is not None:
        size += f", {fmt_size(f.task.file_size)} in the table"
    size += ")" if size else ""
    return f"{f.state}: {f.task.rel_path}{size}"


def state_notes(findings: Sequence[DiskFinding]) -> list[str]:
    """What each state found means, once per state (the first finding's reason)."""
    from one_tui.engine import DiskState

    seen: dict[str, str] = {}
    for f in findings:
        if f.state is not DiskState.MISSING:  # "missing: not on this disk" says nothing more
            seen.setdefault(str(f.state), f.reason)
    return [f"{state}: {reason}" for state, reason in seen.items()]


def doctor_summary(report: DiskReport) -> str:
    problems = report.problems
    hashed = f", {fmt_size(report.hashed_bytes)} hashed" if report.hashed_bytes else ""
    if report.cancelled:
        return f"Disk check cancelled after {report.seconds:.1f} s{hashed}."
    if not problems:
        return (f"All {plural(len(report.findings), 'file')} on this disk as ONE-api would "
                f"load them{hashed} ({report.seconds:.1f} s).")
    by: dict[str, int] = {}
    for f in problems:
        by[str(f.state)] = by.get(str(f.state), 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in by.items())
    return f"{plural(len(problems), 'problem')} of {len(report.findings)} files: {parts}{hashed}."


# ---------------------------------------------------------------- worker bodies

def _throttled(post: Post, job: Job = Job.DOWNLOAD, every: float = PROGRESS_EVERY
               ) -> Callable[[FetchProgress], None]:
    """The engine's ``on_progress``: every finished file at once, the picture at most every
    ``every`` seconds (and the last one)."""
    last = [float("-inf")]
    lock = threading.Lock()

    def on_progress(p: FetchProgress) -> None:
        if p.finished is not None:
            post(DownloadFileDone(p.finished))
        now = time.monotonic()
        with lock:  # a finished file changes the picture: always shown (coalesced anyway)
            if (now - last[0] < every and p.finished is None
                    and p.files_done < p.files_total):
                return
            last[0] = now
        post(DownloadProgress(p))
        post(JobProgress(job, phase_text(p)))

    return on_progress


def plan_body(service: EngineService, request: DownloadRequest,
              cancel: threading.Event | None, post: Post) -> None:
    post(JobProgress(Job.DOWNLOAD, "planning the download — esc cancels"))
    last = [float("-inf")]

    def on_progress(p: FetchProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            post(JobProgress(Job.DOWNLOAD, phase_text(p)))

    answer = service.plan_download(list(request.eids), dataset_ids=request.dataset_ids,
                                   datasets=request.datasets or None,
                                   all_revisions=request.all_revisions, cancel=cancel,
                                   on_progress=on_progress)
    post(DownloadPlanned(answer, request.what))


def download_body(service: EngineService, plan: DownloadPlan, what: str,
                  cancel: threading.Event | None, post: Post, *,
                  every: float = PROGRESS_EVERY) -> None:
    """The job; the panel's picture at most every ``every`` seconds (--low-bandwidth: 1)."""
    answer = service.download(plan, cancel=cancel, on_progress=_throttled(post, every=every))
    post(DownloadDone(answer, what))
    post(Notices(answer.notices))


def check_body(service: EngineService, eid: str, dataset_ids: Sequence[str], verify: bool,
               cancel: threading.Event | None, post: Post) -> None:
    """K / V: the doctor on a session's files (V: every file re-hashed)."""
    post(JobProgress(Job.DOCTOR, ("re-hashing" if verify else "checking")
                     + " the session's files — esc cancels"))
    last = [float("-inf")]

    def on_progress(p: FetchProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            post(JobProgress(Job.DOCTOR, f"checking {p.files_done}/{p.files_total} files, "
                                         f"{fmt_size(p.done_bytes)} — esc cancels"))

    # uuid_filenames=False: ONE's default, so a name.<uuid>.ext left by a failed ONE batch is
    # found as stranded (ONE does not load it)
    answer = service.check_disk([eid], dataset_ids=list(dataset_ids) or None,
                                all_revisions=bool(dataset_ids), verify=verify,
                                uuid_filenames=False,
                                cancel=cancel, on_progress=on_progress)
    post(DiskChecked(answer, eid, verify))


def fix_body(service: EngineService, findings: Sequence[DiskFinding], action: DiskAction,
             cancel: threading.Event | None, post: Post) -> None:
    out = service.fix_disk(findings, action, cancel=cancel,
                           on_progress=_throttled(post, Job.DOCTOR))
    severity = "warning" if out.failed else "information"
    post(JobDone(Job.DOCTOR, f"Disk doctor, {action}: {out.message}", out, severity))


def error_text(exc: BaseException | None) -> str:
    return one_line(exc) if exc is not None else "no answer"
