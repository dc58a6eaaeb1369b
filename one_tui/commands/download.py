"""`one-tui download EID ... [selectors]` and `one-tui check EID ... [selectors] [--fix]`.

The same engine job as the app's (``EngineService.plan_download`` / ``download`` /
``check_disk`` / ``fix_disk``), for scripts and batch jobs on a login node: the files go where
ONE-api 2.x and 3.x look for them, so ``one.load_dataset(...)`` afterwards loads without a
request. Selectors: ``--dataset`` a partial match on ``rel_path`` (ONE 2.x's ``dataset``
term), ``--datasets`` exact file names, ``--collection``, ``--revision`` (else the default
revision; ``--all-revisions``). The sessions must be in the tables on this disk (search or
refresh first).

On a terminal a progress line on stderr (bytes, rate, ETA, files left); with ``--json`` one
JSON line per finished file on stdout, then a summary line. Exit codes (``one_tui.exits``):
0 every requested dataset is on disk and verified; 1 some failed, or (check) are missing or
damaged, each named; 2 usage (argparse); 3 settings or connection (401, no data server, the
server unreachable, a selection that matches nothing, a session not in the tables).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from one_tui.console import out, say
from one_tui.engine.core.spec import inert
from one_tui.exits import Exit

__all__ = ["add_parsers", "run_download", "run_check"]

_SHOWN = 20  # problems named before "... and N more"


def _selectors(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("eids", nargs="+", metavar="EID", help="session ids (eids)")
    parser.add_argument("--dataset", help="partial match on rel_path (ONE 2.x's dataset term)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="exact file names (e.g. _ibl_trials.table.pqt) or rel_paths")
    parser.add_argument("--collection", help="ONE's collection filter (e.g. alf/probe00)")
    parser.add_argument("--revision", help="ONE's revision filter (default: default revision)")
    parser.add_argument("--all-revisions", action="store_true",
                        help="every revision, not only the default one")
    parser.add_argument("--cache-dir", help="ONE cache folder (default: from ~/.one)")
    parser.add_argument("--base-url", help="Alyx URL whose settings to use (default: ~/.one)")
    parser.add_argument("--tag", help="release tag whose tables list the datasets")
    parser.add_argument("--uuid-filenames", action="store_true",
                        help="ONE's uuid_filenames: files are name.<uuid>.ext")
    parser.add_argument("--verify", action="store_true",
                        help="hash every file on disk again (default: only changed ones)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON line per file, then a summary line")


def add_parsers(sub: Any) -> None:
    download = sub.add_parser(
        "download", help="download datasets into ONE's cache folder (resumable, verified)",
        description="Download the selected datasets of the sessions into ONE's layout, where "
                    "ONE-api 2.x/3.x load them without a request. Size and hash checked "
                    "while streaming, resumed with Range after a break; files already on "
                    "disk and verified are not downloaded again.")
    _selectors(download)
    download.add_argument("--jobs", type=int, metavar="N",
                          help="files at once (default: ONE_HTTP_DL_THREADS or 4)")
    check = sub.add_parser(
        "check", help="check the datasets on this disk (missing, damaged, stranded, partial)",
        description="Say for each selected dataset whether ONE-api would load it from this "
                    "disk without downloading: missing, size or hash mismatch, a stranded "
                    "name.<uuid>.ext left by ONE, one-tui's partial. --fix downloads, "
                    "finalises or resumes what it can.")
    _selectors(check)
    check.add_argument("--fix", action="store_true",
                       help="download missing/damaged files, finalise stranded ones")
    check.add_argument("--jobs", type=int, metavar="N", help="files at once for --fix")


def _service(ns: argparse.Namespace) -> Any:
    from one_tui.engine import EngineService, Mode, resolve_place

    place = resolve_place(ns.base_url, ns.cache_dir)
    return EngineService.open(cache_dir=place.cache_dir, base_url=place.base_url,
                              mode=Mode.LOCAL, tag=ns.tag)


def _selection(ns: argparse.Namespace) -> dict[str, Any]:
    return {"dataset": ns.dataset, "datasets": ns.datasets, "collection": ns.collection,
            "revision": ns.revision, "all_revisions": ns.all_revisions}


class _Bar:
    """One progress line on a terminal's stderr, at most 4 updates a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0
        self.width = 0
        self.lock = threading.Lock()

    def show(self, event: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.25 and event.files_left:
            return
        self.last = now
        from one_tui.text import fmt_seconds
        from one_tui.text import fmt_size as size_text

        frac = event.done_bytes / event.total_bytes if event.total_bytes else 1.0
        filled = int(20 * min(1.0, frac))
        eta = "" if event.eta is None else f" ETA {fmt_seconds(event.eta)}"
        verb = "checking" if event.phase == "check" else "downloading"
        line = (f"{verb} [{'#' * filled}{'.' * (20 - filled)}] {100 * frac:3.0f}% "
                f"{size_text(event.done_bytes)}/{size_text(event.total_bytes)} "
                f"{size_text(int(event.rate))}/s{eta} {event.files_left} files left")
        with self.lock:
            sys.stderr.write("\r" + inert(line).ljust(self.width))
            sys.stderr.flush()
            self.width = len(line)

    def done(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def _file_line(outcome: Any) -> str:
    task = outcome.task
    return json.dumps({"eid": task.eid, "dataset_id": task.dataset_id,
                       "rel_path": task.rel_path, "path": str(task.target),
                       "result": str(outcome.kind), "reason": outcome.reason,
                       "status": outcome.status,
                       "cause": str(outcome.cause) if outcome.cause else None,
                       "bytes": outcome.bytes, "resumed_from": outcome.resumed_from})


def _settings_failure(outcomes: Any) -> bool:
    from one_tui.engine import FailCause

    failed = [o for o in outcomes if o.cause is not None]
    return bool(failed) and all(o.cause in (FailCause.LOGIN, FailCause.NETWORK)
                                for o in failed)


def _name_failures(outcomes: Any) -> None:
    failed = [o for o in outcomes if not o.kind.ok]
    for o in failed[:_SHOWN]:
        say(f"  {o.kind}: {o.task.label}: {o.reason}")
    if len(failed) > _SHOWN:
        say(f"  ... and {len(failed) - _SHOWN} more")


def run_download(ns: argparse.Namespace) -> int:
    if ns.jobs is not None and ns.jobs < 1:
        say("one-tui download: --jobs must be at least 1")
        return Exit.USAGE
    service = _service(ns)
    bar = _Bar(sys.stderr.isatty() and not ns.json)
    planned = service.plan_download(ns.eids, **_selection(ns),
                                    uuid_filenames=True if ns.uuid_filenames else None,
                                    verify=ns.verify, on_progress=bar.show)
    bar.done()
    for notice in planned.notices:
        say(f"note: {notice}")
    plan = planned.value
    if plan is None:
        say(f"one-tui download: {planned.error}")
        return Exit.ERROR
    if plan.refusal is not None:
        say(f"one-tui download: {plan.refusal}")
        return Exit.ERROR
    if not ns.json:
        say(f"{len(plan.tasks)} datasets, {len(plan.tasks) - len(plan.to_fetch)} already on "
            f"disk; {plan.fetch_bytes / 1e6:,.1f} MB to fetch into {plan.cache_dir}")
    lock = threading.Lock()

    def progress(event: Any) -> None:
        if ns.json and event.finished is not None:
            with lock:
                out(_file_line(event.finished))
        bar.show(event)

    if ns.json:
        for task in plan.tasks:  # the files already on disk get their line too
            if task not in plan.to_fetch:
                from one_tui.engine import FetchKind, FileOutcome

                out(_file_line(FileOutcome(task, FetchKind.VERIFIED, "already on this disk")))
    answer = _interruptible(lambda cancel: service.download(plan, jobs=ns.jobs, cancel=cancel,
                                                            on_progress=progress))
    bar.done()
    report = answer.value
    if report is not None and report.cancelled:
        say(f"interrupted: {report.message}; run the same command again to resume")
        return Exit.INTERRUPTED
    if report is None:
        say(f"one-tui download: {answer.error}")
        return Exit.ERROR
    if ns.json:
        out(json.dumps({"summary": {
            "ok": report.ok, "datasets": len(report.outcomes),
            "downloaded": report.count(_kind("done")),
            "already": report.count(_kind("verified")),
            "failed": report.count(_kind("failed")),
            "cancelled": report.count(_kind("cancelled")),
            "bytes": report.bytes, "seconds": round(report.seconds, 3),
            "message": report.message}}))
    else:
        say(report.message)
        _name_failures(report.outcomes)
    if report.ok:
        return Exit.OK
    return Exit.ERROR if _settings_failure(report.outcomes) else Exit.EXPIRED


def _interruptible(job: Any) -> Any:
    """Run ``job(cancel)`` in a thread; ctrl+c cancels it (the partials are kept) and waits for
    it to stop, instead of leaving the worker threads to finish the downloads at exit."""
    cancel, finished = threading.Event(), threading.Event()
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(job(cancel))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread as it was
            box.append(exc)
        finally:
            finished.set()

    threading.Thread(target=run, daemon=True, name="one-tui-download").start()
    while True:  # an Event, not Thread.join: a ctrl+c inside join can make is_alive() lie
        try:
            if finished.wait(0.2):
                break
        except KeyboardInterrupt:
            cancel.set()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _kind(name: str) -> Any:
    from one_tui.engine import FetchKind

    return FetchKind(name)


def run_check(ns: argparse.Namespace) -> int:
    from one_tui.engine import DiskAction, DiskState

    service = _service(ns)
    bar = _Bar(sys.stderr.isatty() and not ns.json)
    uuid = bool(ns.uuid_filenames)
    answer = service.check_disk(ns.eids, **_selection(ns), uuid_filenames=uuid,
                                verify=ns.verify, on_progress=bar.show)
    bar.done()
    for notice in answer.notices:
        say(f"note: {notice}")
    report = answer.value
    if report is None:
        say(f"one-tui check: {answer.error}")
        return Exit.ERROR
    if ns.fix and report.problems:
        for action in (DiskAction.FINALISE, DiskAction.DOWNLOAD):
            todo = [f for f in report.problems if f.actions and f.actions[0] is action]
            if todo:
                outcome = service.fix_disk(todo, action, jobs=ns.jobs, on_progress=bar.show)
                bar.done()
                say(f"{action}: {outcome.message}")
        # stale partials beside a file in place: remove them
        stale = [f for f in report.problems if f.actions == (DiskAction.REMOVE,)]
        if stale:
            say(f"remove: {service.fix_disk(stale, DiskAction.REMOVE).message}")
        answer = service.check_disk(ns.eids, **_selection(ns), uuid_filenames=uuid)
        if answer.value is None:
            say(f"one-tui check: {answer.error}")
            return Exit.ERROR
        report = answer.value
    if ns.json:
        for f in report.findings:
            out(json.dumps({"eid": f.task.eid, "dataset_id": f.task.dataset_id,
                            "rel_path": f.task.rel_path,
                            "path": str(f.path) if f.path else None, "state": str(f.state),
                            "verified": f.verified, "size": f.size,
                            "file_size": f.task.file_size, "reason": f.reason,
                            "actions": [str(a) for a in f.actions]}))
        out(json.dumps({"summary": {"ok": report.ok, "datasets": len(
            {f.task.dataset_id for f in report.findings}),
            "problems": len(report.problems), "hashed_bytes": report.hashed_bytes,
            "seconds": round(report.seconds, 3)}}))
    else:
        n_ok = len(report.of(DiskState.OK))
        verified = sum(f.verified for f in report.of(DiskState.OK))
        say(f"{n_ok} datasets on disk ({verified} hash-verified), {len(report.problems)} "
            f"problems; {report.hashed_bytes / 1e6:,.1f} MB hashed in {report.seconds:.1f} s")
        for f in report.problems[:_SHOWN]:
            say(f"  {f.state}: {f.task.label}: {f.reason}")
        if len(report.problems) > _SHOWN:
            say(f"  ... and {len(report.problems) - _SHOWN} more")
        if report.problems and not ns.fix:
            say("run the same command with --fix to download, finalise or resume them")
    return Exit.OK if report.ok else Exit.EXPIRED
