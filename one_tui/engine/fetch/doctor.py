"""The disk doctor: what each selected dataset's files on this disk are, and the fixes.

A finding per dataset (``DiskState``: on disk, missing, size mismatch, hash mismatch,
stranded ``name.<uuid>.ext`` left by a failed ONE batch, one-tui's partial), plus one per
leftover partial beside a file already in place. Hashes are read only when a file's size or
mtime changed since one-tui last verified it (``verify``: all of them). The actions: download
(resumes a partial), finalise (a stranded file whose size and hash are right is renamed to
ONE's name; ONE never does it), remove (the damaged file, the stranded file, the partial; the
app asks first).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from one_tui.engine.core.results import Outcome
from one_tui.engine.core.types import DiskState, OutcomeKind
from one_tui.engine.fetch.plan import check_task, data_server, free_space, select_tasks
from one_tui.engine.fetch.values import (
    DiskAction,
    DiskFinding,
    DiskReport,
    DownloadPlan,
    FetchProgress,
    FileTask,
    OnFetchProgress,
    Selection,
)
from one_tui.engine.local import checksum
from one_tui.engine.local.ondisk import partial_path, partials_of
from one_tui.engine.local.verified import VerifiedRecord

if TYPE_CHECKING:
    from one_tui.engine.one import One

__all__ = ["check_disk", "fix_disk", "ACTIONS"]

#: what the doctor offers for each state
ACTIONS: dict[DiskState, tuple[DiskAction, ...]] = {
    DiskState.OK: (),
    DiskState.MISSING: (DiskAction.DOWNLOAD,),
    DiskState.SIZE_MISMATCH: (DiskAction.DOWNLOAD, DiskAction.REMOVE),
    DiskState.HASH_MISMATCH: (DiskAction.DOWNLOAD, DiskAction.REMOVE),
    DiskState.STRANDED: (DiskAction.FINALISE, DiskAction.REMOVE),
    DiskState.PARTIAL: (DiskAction.DOWNLOAD, DiskAction.REMOVE),
}


def _reason(task: FileTask, state: DiskState, size: int, verified: bool,
            has_hash: bool) -> str:
    if state is DiskState.OK:
        if verified:
            return "on disk, size and hash verified"
        return "on disk, size right" + ("" if has_hash else " (the table has no usable hash)")
    if state is DiskState.MISSING:
        return "not on this disk"
    if state is DiskState.SIZE_MISMATCH:
        return (f"damaged: {size:,} bytes on disk, the table says {task.file_size:,}; ONE "
                "would download it again")
    if state is DiskState.HASH_MISMATCH:
        return (f"damaged: right size but its {checksum.algorithm(task.hash)} is not the "
                "table's; ONE would download it again")
    if state is DiskState.STRANDED:
        return ("only name.<uuid>.ext is here (left by a ONE download that failed); ONE does "
                "not see it unless uuid_filenames is on: finalise renames it")
    return (f"a partial download ({size:,} of {task.file_size or 0:,} bytes); download "
            "resumes it")


def check_disk(one: One, eids: list[str], selection: Selection, *,
               uuid_filenames: bool | None = None, verify: bool = False,
               cancel: threading.Event | None = None,
               on_progress: OnFetchProgress | None = None) -> DiskReport:
    """A finding per selected dataset (and per leftover partial)."""
    started = time.monotonic()
    server, _ = data_server(one)
    tasks = select_tasks(one, eids, selection, server=server, uuid_filenames=uuid_filenames)
    record = VerifiedRecord(Path(one.cache_dir))
    total = sum(t.file_size or 0 for t in tasks)
    hashed = [0]
    last = [0.0]
    findings: list[DiskFinding] = []

    def tick(n: int) -> None:
        hashed[0] += n
        now = time.monotonic()
        if on_progress is not None and now - last[0] > 0.2:
            last[0] = now
            on_progress(FetchProgress(hashed[0], total, 0.0, None, len(findings), len(tasks),
                                      phase="check"))

    cancelled = False
    for task in tasks:
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        checked = check_task(one, task, record, uuid_filenames=uuid_filenames, verify=verify,
                             cancel=cancel, on_bytes=tick)
        found = checked.found
        state = checked.state
        findings.append(DiskFinding(
            task, state, found.path, found.size if found.path is not None else None,
            _reason(task, state, found.size, checked.verified,
                    checksum.algorithm(task.hash) is not None),
            ACTIONS[state], checked.verified))
        if state is not DiskState.PARTIAL:
            current = partial_path(task.target, task.hash)
            for left in partials_of(task.target):
                if state is DiskState.OK or left != current:
                    findings.append(DiskFinding(
                        task, DiskState.PARTIAL, left, left.stat().st_size,
                        "a leftover partial download", (DiskAction.REMOVE,)))
    record.save()
    return DiskReport(tuple(findings), hashed[0], time.monotonic() - started,
                      cancelled=cancelled)


def _finalise(finding: DiskFinding, record: VerifiedRecord) -> str | None:
    """Rename a stranded file to ONE's name after its size and hash check (None: done)."""
    task, path = finding.task, finding.path
    if path is None or not path.is_file():
        return f"{task.name}: the stranded file is gone"
    if task.file_size is not None and path.stat().st_size != task.file_size:
        return f"{task.name}: wrong size, not finalised (download it)"
    if checksum.algorithm(task.hash) is not None:
        digest = checksum.file_digest(path, task.hash)
        if not checksum.matches(digest, task.hash):
            return f"{task.name}: its hash is not the table's, not finalised (download it)"
    plain = task.target
    if path == plain:
        return None
    if plain.name != path.name and plain.exists():
        return f"{task.name}: ONE's name is taken by another file, not finalised"
    os.replace(path, plain)
    record.forget(path)
    record.mark(plain, task.hash)
    return None


def fix_disk(one: One, findings: tuple[DiskFinding, ...], action: DiskAction, *,
             jobs: int | None = None, cancel: threading.Event | None = None,
             on_progress: OnFetchProgress | None = None) -> Outcome:
    """Apply ``action`` to the findings that offer it; one line says what happened."""
    chosen = [f for f in findings if action in f.actions]
    if not chosen:
        return Outcome(OutcomeKind.DONE, f"nothing to {action}")
    record = VerifiedRecord(Path(one.cache_dir))
    problems: list[str] = []
    if action is DiskAction.DOWNLOAD:
        from one_tui.engine.fetch.job import download_tasks

        tasks = tuple({f.task.dataset_id: f.task for f in chosen}.values())
        need = sum(t.file_size or 0 for t in tasks)
        free = free_space(Path(one.cache_dir))
        refusal = (f"does not fit: {need / 1e6:,.1f} MB to fetch, {free / 1e6:,.1f} MB free"
                   if free is not None and need > free else None)
        plan = DownloadPlan(tasks, tasks, need, need, free, Path(one.cache_dir), refusal)
        if refusal is not None:
            return Outcome(OutcomeKind.FAILED, refusal)
        server, login = data_server(one)
        report = download_tasks(plan, server=server, login=login, record=record, jobs=jobs,
                                cancel=cancel, on_progress=on_progress)
        kind = (OutcomeKind.CANCELLED if report.cancelled
                else OutcomeKind.DONE if report.ok else OutcomeKind.FAILED)
        return Outcome(kind, report.message)
    done = 0
    try:
        for finding in chosen:
            if cancel is not None and cancel.is_set():
                return Outcome(OutcomeKind.CANCELLED, f"{done} {action}d, then cancelled")
            if action is DiskAction.FINALISE:
                problem = _finalise(finding, record)
            else:
                problem = None
                if finding.path is not None:
                    try:
                        finding.path.unlink()
                        record.forget(finding.path)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        problem = f"{finding.path.name}: {exc.strerror or exc}"
            if problem is None:
                done += 1
            else:
                problems.append(problem)
    finally:
        record.save()
    verb = "finalised" if action is DiskAction.FINALISE else "removed"
    if problems:
        return Outcome(OutcomeKind.FAILED, f"{done} {verb}, {len(problems)} not: "
                       f"{problems[0]}" + (" ..." if len(problems) > 1 else ""))
    return Outcome(OutcomeKind.DONE, f"{done} {verb}")
