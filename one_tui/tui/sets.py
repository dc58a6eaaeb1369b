"""The app's table sets, databases and freeze: pickers, then a job each.

``t`` opens the tag picker (the full tables and every release tag of the database, with
Alyx's date and size and what is on this disk); choosing one is one action: the job loads its
tables, downloads them only when Alyx has newer ones (escape cancels, the tables on disk stay)
and the results are searched again. ``B`` opens the database picker (every database of
``~/.one``; the demo; ONE's public database when nothing is set up); choosing one re-opens the
engine on it as the connect job. ``F`` writes the current results into a ONE cache folder for
a node without network (tables, and with data the files hard-linked after a size and md5
check) and shows the Python line the batch job runs.

The app keeps the state and the workers; this module only builds the modals' rows and the
workers' bodies (plain functions of the service, a cancel event and ``post``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.worker import get_current_worker

from one_tui.engine.core.results import Outcome
from one_tui.engine.core.sets import FULL, DatabaseInfo
from one_tui.engine.core.types import OutcomeKind
from one_tui.tui import work as bodies
from one_tui.tui.messages import JobDone, Notices
from one_tui.tui.state import AppState, Job

if TYPE_CHECKING:
    from textual.screen import Screen

    from one_tui.engine import EngineService
    from one_tui.tui.connect import Connector

__all__ = ["pick_tag", "pick_database", "freeze_results", "connector_for", "public_connector"]

Post = Callable[[Any], object]


class Host(Protocol):
    """What these flows use of the app (``OneApp``; a Protocol, so this module does not
    import the app that imports it)."""

    state: AppState
    connector: Connector | None
    clock: Callable[[], dt.datetime]

    @property
    def service(self) -> EngineService | None: ...
    def notify(self, message: str, *, title: str = ..., severity: Any = ...,
               timeout: float | None = ..., markup: bool = ...) -> None: ...
    def push_screen(self, screen: Screen[Any], callback: Any = ...) -> Any: ...
    def run_worker(self, work: Any, name: str | None = ..., group: str = ...,
                   description: str = ..., exit_on_error: bool = ..., start: bool = ...,
                   exclusive: bool = ..., thread: bool = ...) -> Any: ...
    def post_message(self, message: Any) -> bool: ...
    def phases(self, job: Job) -> bodies.PhaseReporter: ...
    def reopen(self, connector: Connector) -> None: ...
    def results_eids(self) -> list[str] | None: ...
    def jobs_started(self) -> None: ...
    @property
    def demo_factory(self) -> Callable[[], Connector] | None: ...


def _severity(out: Outcome) -> str:
    return "warning" if out.failed or out.kind == OutcomeKind.CANCELLED else "information"


# -- tags ------------------------------------------------------------------------------------------
def pick_tag(app: Host) -> None:
    """``t``: the tag picker; choosing a row switches the tables as a job."""
    service = app.service
    if service is None:
        app.notify("Not connected yet.", severity="warning")
        return
    from one_tui.tui.screens.pickers import TagPicker

    engine = app.state.engine
    app.push_screen(TagPicker(service.tags, engine.tag if engine is not None else None,
                              engine.base_url if engine is not None else None),
                    partial(_switch_tag, app, service))


def _switch_tag(app: Host, service: EngineService, choice: str | None) -> None:
    if choice is None:
        return
    app.run_worker(partial(tables_body, service, None if choice == FULL else choice,
                           app.post_message, app.phases(Job.TABLES)),
                   group=Job.TABLES, exclusive=True, thread=True, exit_on_error=False,
                   description="switch tables")
    app.jobs_started()


def tables_body(service: EngineService, tag: str | None, post: Post,
                progress: bodies.PhaseReporter) -> None:
    """The switch: the set's tables from disk, newer ones from Alyx, the state, a toast."""
    cancel = get_current_worker().cancelled_event
    out = service.use_tables(tag, cancel=cancel, on_progress=progress)
    post(JobDone(Job.TABLES, f"Tables: {out.message}", out, _severity(out)))
    post(Notices(out.notices, skip=out.message))
    bodies.post_state(service, post)


# -- databases -------------------------------------------------------------------------------------
def connector_for(db: DatabaseInfo) -> Connector:
    """A connector for a database of the picker, with what ~/.one says (user, token) or, for
    the public database offered before any set-up, ONE's public login."""
    from one_tui.engine import PUBLIC_PASSWORD, resolve_place
    from one_tui.tui.connect import Connector

    if db.suggested:
        return Connector(base_url=db.base_url, cache_dir=db.cache_dir, username=db.username,
                         password=PUBLIC_PASSWORD, label=db.base_url)
    place = resolve_place(db.base_url)
    settings = place.settings
    return Connector(base_url=db.base_url, cache_dir=db.cache_dir, username=place.username,
                     password=settings.password if settings is not None else None,
                     token=place.token, label=db.base_url)


def public_connector() -> Connector:
    """ONE's public database as ONE's own setup makes it (``ONE(base_url=PUBLIC_URL,
    username='intbrainlab', password='international')``): the login saves its token and
    registers it in ``~/.one`` as ONE would."""
    from one_tui.engine import PUBLIC_PASSWORD, PUBLIC_URL, PUBLIC_USER, resolve_place
    from one_tui.tui.connect import Connector

    return Connector(base_url=PUBLIC_URL, cache_dir=resolve_place(PUBLIC_URL).cache_dir,
                     username=PUBLIC_USER, password=PUBLIC_PASSWORD, label=PUBLIC_URL)


def pick_database(app: Host) -> None:
    """``B``: the database picker; choosing one re-opens the engine on it."""
    from one_tui.engine import EngineService
    from one_tui.tui.screens.pickers import DEMO, DatabasePicker

    engine = app.state.engine

    def chosen(choice: DatabaseInfo | str | None) -> None:
        if choice is None:
            return
        if choice == DEMO:
            from one_tui.tui.connect import demo_connector

            connector = (app.demo_factory or demo_connector)()
        elif isinstance(choice, DatabaseInfo):
            if engine is not None and choice.base_url == engine.base_url:
                app.notify(f"Already on {choice.base_url}.")
                return
            connector = connector_for(choice)
        else:
            return
        app.notify(f"Opening {connector.label or connector.base_url or 'the demo'}…")
        app.reopen(connector)

    app.push_screen(DatabasePicker(EngineService.databases,
                                   engine.base_url if engine is not None else None, app.clock),
                    chosen)


# -- freeze ----------------------------------------------------------------------------------------
def freeze_results(app: Host) -> None:
    """``F``: the current results into a ONE cache folder for a node without network."""
    service = app.service
    eids = app.results_eids()
    if service is None or not eids:
        app.notify("Nothing to freeze yet: run a search first.", severity="warning")
        return
    from one_tui.tui.screens.pickers import FreezeModal

    engine = app.state.engine
    tag = engine.tag if engine is not None else None
    default = Path.home() / f"one-frozen-{tag or 'full'}"

    def chosen(choice: tuple[str, bool] | None) -> None:
        if not choice:
            return
        folder, with_data = choice
        app.run_worker(partial(freeze_body, service, folder, eids, with_data,
                               app.post_message, app.phases(Job.FREEZE)),
                       group=Job.FREEZE, exclusive=True, thread=True, exit_on_error=False,
                       description="freeze results")
        app.jobs_started()

    app.push_screen(FreezeModal(len(eids), tag, str(default)), chosen)


def freeze_body(service: EngineService, folder: str, eids: list[str], with_data: bool,
                post: Post, progress: bodies.PhaseReporter) -> None:
    """Write the folder; the toast says what was written and the line to run, or which files
    must be downloaded first."""
    cancel: threading.Event = get_current_worker().cancelled_event
    answer = service.freeze(folder, eids=eids, with_data=with_data, cancel=cancel,
                            on_progress=progress)
    report = answer.value
    if answer.error is not None or report is None:
        post(JobDone(Job.FREEZE, f"Freeze failed: {answer.error}", severity="warning"))
        return
    text = (f"Froze {report.sessions} sessions, {report.datasets} datasets "
            f"({report.tag or 'full'} tables) in {report.folder}")
    if with_data:
        text += f"; {report.linked + report.copied} files placed"
    if report.missing or report.mismatched:
        text += (f"; {len(report.missing)} files not on this disk and "
                 f"{len(report.mismatched)} not Alyx's bytes: download them first, then "
                 "freeze again")
    text += f". In the job: {report.python_line}"
    severity = "warning" if report.missing or report.mismatched else "information"
    post(JobDone(Job.FREEZE, text, severity=severity))
