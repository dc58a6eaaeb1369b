"""Getting data on the main screen: D (download), K (disk doctor), V (verify all).

:class:`DataFlow` is composed into the main screen, whose message handlers hand it the
download's messages on the UI thread. The texts and worker bodies are ``tui/downloads.py``;
the panel ``widgets/download_panel.py``; the doctor's modal is :class:`DoctorModal` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from one_tui.text import plural
from one_tui.tui import downloads
from one_tui.tui.inert import inert
from one_tui.tui.screens.modal import CloseableModal
from one_tui.tui.state import AppState, Job, Pane
from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.download_panel import DownloadPanel

if TYPE_CHECKING:
    from one_tui.engine import DiskAction, DiskFinding, DiskReport, DownloadPlan, EngineService
    from one_tui.tui.messages import (
        DiskChecked,
        DownloadDone,
        DownloadFileDone,
        DownloadPlanned,
        DownloadProgress,
    )

DOCTOR_LINES = 12  # findings listed in the modal (the summary counts them all)


class FlowHost(Protocol):
    """What these flows use of the app (``OneApp``, the main screen's host)."""

    @property
    def state(self) -> AppState: ...
    @property
    def service(self) -> EngineService | None: ...
    def record_error(self, title: str, exc: BaseException) -> None: ...
    def show_notices(self, notices: Iterable[str], skip: str | None = None) -> None: ...
    def jobs_started(self) -> None: ...


class DataFlow:
    """The download and disk-doctor flows of the main screen (``screen``): the terms of the
    search shown come from ``last_terms``, ``reload_details`` reads a session's details
    again."""

    def __init__(self, screen: Screen[Any], host: FlowHost,
                 last_terms: Callable[[], dict[str, Any]],
                 reload_details: Callable[[str], None]) -> None:
        self.screen = screen
        self.host = host
        self.last_terms = last_terms
        self.reload_details = reload_details
        self.fixing: str | None = None  # the session a doctor's fix is for

    # -------------------------------------------------------------- helpers

    @property
    def details(self) -> DetailsPane:
        return self.screen.query_one(DetailsPane)

    @property
    def panel(self) -> DownloadPanel:
        return self.screen.query_one(DownloadPanel)

    def _running(self, job: Job) -> bool:
        return job in self.host.state.jobs

    def _run(self, job: Job, body: Any, description: str) -> None:
        def run() -> None:
            body(get_current_worker().cancelled_event, self.screen.post_message)

        # the app's worker: its state changes reach the app's one handler (the running jobs,
        # failures as toasts); a screen's worker posts them to the screen only
        self.screen.app.run_worker(run, group=job, exclusive=True, thread=True,
                                   exit_on_error=False, description=description)
        self.host.jobs_started()  # the status line names the job at once

    def _details_focused(self) -> bool:
        return (self.host.state.pane is Pane.DETAILS
                or self.screen.focused is self.details)

    # -------------------------------------------------------------- D

    def download(self) -> None:
        """D: the marked datasets in Details (else the one under the cursor); from the
        sessions, the last search's dataset filter in the marked sessions (else in every
        session of the results)."""
        service = self.host.service
        if service is None:
            self.screen.notify("Not connected yet.", severity="warning")
            return
        if self._running(Job.DOWNLOAD):
            self.screen.notify("A download is running: escape cancels it, D then resumes.",
                               severity="warning")
            return
        request = (self._from_details() if self._details_focused()
                   else self._from_results())
        if request is None:
            return
        self._run(Job.DOWNLOAD, partial(downloads.plan_body, service, request),
                  "plan a download")

    def _from_details(self) -> downloads.DownloadRequest | None:
        details = self.details
        ready = details.details
        if ready is None or not ready.datasets or details.eid != ready.eid:
            self.screen.notify("No datasets here: open a session's details first (enter).",
                               severity="warning")
            return None
        subject = ready.session.get("subject", "")
        marked = details.marked_rows
        if marked:
            rows = marked
            what = f"{plural(len(rows), 'marked dataset')} of {subject}"
        else:
            item = details.datasets.current
            if item is None:
                return None
            rows = (item.row,) if item.row is not None else item.group.rows
            what = (f"{item.row.rel_path} of {subject}" if item.row is not None
                    else f"{item.group.label} of {subject} ({plural(len(rows), 'dataset')})")
        return downloads.DownloadRequest(eids=(ready.eid,), what=inert(what),
                                         dataset_ids=tuple(r.id for r in rows),
                                         all_revisions=True)

    def _from_results(self) -> downloads.DownloadRequest | None:
        from one_tui.tui.widgets.results import ResultsPane

        pane = self.screen.query_one(ResultsPane)
        table = pane.chosen()
        if table is None or not table.num_rows:
            self.screen.notify("Nothing to download yet: run a search first.",
                               severity="warning")
            return None
        eids = tuple(str(e) for e in table.column("eid").to_pylist())
        terms = self.last_terms()
        names = tuple(str(n) for n in terms.get("datasets") or ())
        sessions = plural(len(eids), "marked session" if pane.marked else "session")
        what = (f"{', '.join(names)} of {sessions}" if names
                else f"every dataset (default revisions) of {sessions}")
        return downloads.DownloadRequest(eids=eids, what=inert(what), datasets=names)

    def planned(self, message: DownloadPlanned) -> None:
        answer = message.answer
        plan = answer.value
        if answer.error is not None or plan is None:
            from one_tui.engine import NothingMatches

            if isinstance(answer.error, NothingMatches):
                self.screen.notify(f"Nothing to download: {answer.error}", severity="warning")
            elif answer.cancelled:
                self.screen.notify("Download cancelled before it started.",
                                   severity="warning")
            else:
                self.host.record_error("Download",
                                              answer.error or RuntimeError("no plan"))
            return
        self.host.show_notices(plan.notices)
        if plan.refusal is not None:
            self.screen.notify(downloads.refusal_text(plan, message.what),
                               title="Download refused", severity="error", timeout=15)
            return
        if not plan.to_fetch:
            self.screen.notify(downloads.nothing_to_fetch(plan, message.what))
            return
        from one_tui.tui.screens.confirm import ConfirmModal

        self.screen.app.push_screen(ConfirmModal(downloads.plan_question(plan, message.what)),
                                    partial(self._confirmed, plan, message.what))

    def _confirmed(self, plan: DownloadPlan, what: str, yes: bool | None) -> None:
        service = self.host.service
        if not yes or service is None:
            self.screen.notify("Not downloaded.")
            return
        self.start(plan, what)

    def start(self, plan: DownloadPlan, what: str) -> None:
        """The download job, its panel shown (it stays whatever pane is shown)."""
        service = self.host.service
        if service is None:
            return
        self.panel.start(what, len(plan.to_fetch), plan.fetch_bytes)
        # --low-bandwidth: the panel redrawn once a second, not four times
        slow = bool(getattr(self.screen.app, "low_bandwidth", False))
        body = partial(downloads.download_body, service, plan, what,
                       every=1.0 if slow else downloads.PROGRESS_EVERY)
        self._run(Job.DOWNLOAD, body, "download datasets")

    def progress(self, message: DownloadProgress) -> None:
        if not self._running(Job.DOWNLOAD) and not self._running(Job.DOCTOR):
            return  # a late event of a job that ended
        self.panel.add_class("-running")
        self.panel.show_progress(message.progress)
        self.details.files_active({a.task.dataset_id: (a.done / a.total if a.total else 0.0)
                                   for a in message.progress.active})

    def file_done(self, message: DownloadFileDone) -> None:
        outcome = message.outcome
        self.details.file_done(outcome.task.dataset_id, outcome.kind.ok)

    def done(self, message: DownloadDone) -> None:
        self.panel.stop()
        self.details.files_active({})
        answer = message.answer
        report = answer.value
        if answer.error is not None or report is None:
            self.host.record_error("Download",
                                          answer.error or RuntimeError("no report"))
            return
        text, severity = downloads.report_toast(report, message.what)
        self.screen.notify(text, title="Download", severity=severity,  # type: ignore[arg-type]
                           timeout=15 if severity != "information" else 8)

    # -------------------------------------------------------------- K, V

    def check(self, verify: bool) -> None:
        """K: the doctor on the session in Details (its marked datasets, if any); V: the same,
        every file re-hashed."""
        service = self.host.service
        details = self.details
        ready = details.details
        if service is None or ready is None or details.eid != ready.eid:
            self.screen.notify("Open a session's details first (enter), then K checks its "
                               "files.", severity="warning")
            return
        if self._running(Job.DOCTOR) or self._running(Job.DOWNLOAD):
            self.screen.notify("A download or a check is running (escape cancels it).",
                               severity="warning")
            return
        ids = tuple(r.id for r in details.marked_rows)
        self._run(Job.DOCTOR, partial(downloads.check_body, service, ready.eid, ids, verify),
                  "disk doctor")

    def checked(self, message: DiskChecked) -> None:
        answer = message.answer
        report = answer.value
        if answer.error is not None or report is None:
            self.host.record_error("Disk doctor",
                                          answer.error or RuntimeError("no report"))
            return
        if not report.problems or report.cancelled:
            self.screen.notify(downloads.doctor_summary(report), title="Disk doctor",
                               severity="warning" if report.cancelled else "information")
            self._refresh_details(message.eid)
            return
        self.screen.app.push_screen(DoctorModal(report),
                                    partial(self._fix_chosen, report, message.eid))
        self._refresh_details(message.eid)

    def _fix_chosen(self, report: DiskReport, eid: str, action: DiskAction | None) -> None:
        if action is None:
            return
        from one_tui.engine import DiskAction

        findings = [f for f in report.problems if action in f.actions]
        if not findings:
            self.screen.notify(f"Nothing to {action}.", severity="warning")
            return
        if action is DiskAction.REMOVE:
            from one_tui.tui.screens.confirm import ConfirmModal

            names = ", ".join(str(f.path.name if f.path else f.task.rel_path)
                              for f in findings[:3])
            more = f" and {len(findings) - 3} more" if len(findings) > 3 else ""
            question = (f"Delete {plural(len(findings), 'file')} from this disk ({names}{more})? "
                        "They can be downloaded again.")
            self.screen.app.push_screen(ConfirmModal(question),
                                        partial(self._fix_confirmed, findings, action, eid))
            return
        self._fix(findings, action, eid)

    def _fix_confirmed(self, findings: list[DiskFinding], action: DiskAction, eid: str,
                       yes: bool | None) -> None:
        if yes:
            self._fix(findings, action, eid)
        else:
            self.screen.notify("Nothing removed.")

    def _fix(self, findings: list[DiskFinding], action: DiskAction, eid: str) -> None:
        service = self.host.service
        if service is None:
            return
        self.fixing = eid
        if str(action) == "download":
            self.panel.start(f"fixing {plural(len(findings), 'file')}", len(findings),
                             sum(f.task.file_size or 0 for f in findings))
        self._run(Job.DOCTOR, partial(downloads.fix_body, service, findings, action),
                  "disk doctor fix")

    def fixed(self) -> None:
        """A fix ended (its toast is the app's JobDone): Details reads the disk again."""
        self.panel.stop()
        eid, self.fixing = self.fixing, None
        if eid:
            self._refresh_details(eid)

    def _refresh_details(self, eid: str) -> None:
        details = self.details
        if details.eid == eid and details.details is not None:
            self.reload_details(eid)


class DoctorModal(CloseableModal):
    """The doctor's findings and what fixes them: d download, f finalise, r remove (asks)."""

    BINDINGS = [
        Binding("d", "choose('download')", "Download", id="doctor_download"),
        Binding("f", "choose('finalise')", "Finalise", id="doctor_finalise"),
        Binding("r", "choose('remove')", "Remove", id="doctor_remove"),
    ]

    def __init__(self, report: DiskReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        problems = self.report.problems
        offered = {a for f in problems for a in f.actions}
        with Vertical(id="doctor-box", classes="modal-box"):
            yield Static(inert(f"Disk doctor: {downloads.doctor_summary(self.report)}"),
                         markup=False, id="doctor-summary")
            lines = [downloads.finding_line(f) for f in problems[:DOCTOR_LINES]]
            if len(problems) > DOCTOR_LINES:
                lines.append(f"… and {len(problems) - DOCTOR_LINES} more")
            with VerticalScroll(id="doctor-scroll"):  # at 80x24 the buttons stay in view
                yield Static(inert("\n".join(lines), lines=True), markup=False,
                             id="doctor-findings")
                yield Static(inert("\n".join(downloads.state_notes(problems)), lines=True),
                             markup=False, id="doctor-notes", classes="dim")
            with Horizontal(classes="buttons"):
                for action, label in (("download", "Download (d)"),
                                      ("finalise", "Finalise (f)"),
                                      ("remove", "Remove (r)")):
                    if any(str(a) == action for a in offered):
                        yield Button(label, id=f"doctor-{action}", compact=True)
                yield Button("Close (esc)", id="doctor-close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        name = (event.button.id or "").removeprefix("doctor-")
        if name == "close":
            self.action_close()
        else:
            self.action_choose(name)

    def action_choose(self, name: str) -> None:
        from one_tui.engine import DiskAction

        action = DiskAction(name)
        if not any(action in f.actions for f in self.report.problems):
            self.notify(f"No finding here can be fixed by {name}.", severity="warning")
            return
        self.dismiss(action)

