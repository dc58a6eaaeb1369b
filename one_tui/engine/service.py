"""The app's and the command line's one way into the engine: typed calls that say what happened.

``One`` keeps ONE's API for scripts (plain values, exceptions). The app needs more than that
from every call: where the answer came from, whether it was cancelled or stale, the notices and
fallback it caused, and a state it can draw without reading the engine's attributes. So the app
(and the CLI) call :class:`EngineService`, whose methods take plain values and options
(``cancel``, ``on_progress``, ``no_cache``) and return an :class:`Answer` or an
:class:`Outcome`, never raise for a failure of the call itself, and whose :meth:`state` is one
frozen :class:`EngineState` value. Rules stay where they live (modes, freshness, places); this
module only composes them into the use cases a screen needs (a session's details).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from one_tui.engine.core import results
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.history import SessionCounts, SubjectHistory
from one_tui.engine.core.results import Answer, Outcome, Phase, Progress
from one_tui.engine.core.sets import DatabaseInfo, FreezeReport, TagInfo
from one_tui.engine.core.spec import one_line
from one_tui.engine.core.types import Mode, OutcomeKind
from one_tui.engine.core.values import (
    EngineState,
    RestCacheInfo,
    SearchRequest,
    SessionDetails,
    Suggestions,
)
from one_tui.engine.fetch.values import (
    DiskAction,
    DiskFinding,
    DiskReport,
    DownloadPlan,
    DownloadReport,
    OnFetchProgress,
    Selection,
)

if TYPE_CHECKING:  # pandas is imported by the calls that need it, never at start-up
    import pandas as pd
    import pyarrow as pa

    from one_tui.engine.one import One
    from one_tui.engine.remote.pacing import Pacer

__all__ = ["EngineService", "suggestions_of", "pasted_id"]

# -- the service ------------------------------------------------------------------------------
class EngineService:
    """Typed use cases over one :class:`~one_tui.engine.one.One` (the app holds one of these)."""

    def __init__(self, one: One) -> None:
        self._one = one
        #: Alyx's burst budget, shared by this service's paced use cases (a subject's history)
        self._pacer: Pacer | None = None

    @classmethod
    def open(cls, *, base_url: str | None = None, cache_dir: str | Path | None = None,
             mode: Mode | str = Mode.AUTO, username: str | None = None,
             password: str | None = None, token: str | None = None,
             clock: Callable[[], datetime] | None = None, tag: str | None = None,
             remembered: bool = False,
             data_server: tuple[str, tuple[str, str] | None] | None = None) -> EngineService:
        """Open the database's tables without touching the network (``connect`` does that, as
        a job). ``tag``: a release's tables (``"full"`` or None: the full ones); with
        ``remembered`` and no ``tag``, the set last used on this database (the app's start).
        Raises what ONE's constructor raises for a folder it cannot use (``CacheDirError``)
        and ValueError for a tag name no Alyx can serve. ``data_server``: (URL, Basic login)
        of the data server when not ONE's settings' (the demo serves its own files)."""
        from one_tui.engine import tablesets
        from one_tui.engine.core.sets import FULL, check_tag
        from one_tui.engine.one import One

        if tag is None and remembered:
            from one_tui.engine.params import resolve_place

            tag = tablesets.remembered_set(resolve_place(base_url, cache_dir).base_url)
        tag = None if tag in (None, FULL) else check_tag(str(tag))
        one = One(base_url=base_url, username=username, password=password, token=token,
                  cache_dir=cache_dir, mode=str(mode), silent=True, connect=False, clock=clock,
                  tag=tag, data_server=data_server)
        return cls(one)

    @staticmethod
    def databases(*, cancel: threading.Event | None = None
                  ) -> Answer[tuple[DatabaseInfo, ...]]:
        """Every database of ONE's ``~/.one`` with its folder, the age of its tables, its size
        on disk and whether a token is saved (ONE's public database offered when none is set
        up). Reads files only; the folder sizes make it a job."""
        from one_tui.engine.databases import list_databases

        with results.recording() as rec:
            try:
                value = tuple(list_databases(cancel))
            except (OSError, ValueError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    @property
    def one(self) -> One:
        """The ``One`` behind the service, for the ONE lines and loads a user asks for."""
        return self._one

    # -- state ------------------------------------------------------------------------------
    def state(self) -> EngineState:
        """The engine as the screen shows it, read from its parts at one moment."""
        one, client = self._one, self._one.alyx
        return EngineState(
            mode=one.mode, requested=one.policy.requested, fallback=one.fallback,
            has_alyx=client is not None,
            logged_in=client is not None and client.is_logged_in,
            freshness=one.tables.freshness(), tables=one.tables.describe(),
            rest=client.rest_cache_info() if client is not None else RestCacheInfo(),
            base_url=client.base_url if client is not None else None,
            user=client.user if client is not None else None, read_only=one.read_only,
            cache_dir=one.cache_dir, tables_id=one.tables_id, tag=one.tag,
            tables_dir=one.tables_dir, remote_allowed=one.policy.remote_allowed,
            tables_checked_at=one.policy.tables_checked_at)

    def refresh_due(self, now: datetime) -> bool:
        """``auto``'s rule, the engine's mode policy's (``ModePolicy.refresh_due``): the
        tables expired and no table job ran since, so a download the user cancelled at start
        is not started again by the first search."""
        return self._one.refresh_due(now)

    # -- queries ------------------------------------------------------------------------------
    def goes_to_alyx(self, request: SearchRequest) -> bool:
        """Whether ``request`` is answered by Alyx (remote mode, ``query_type='remote'`` or a
        term only Alyx knows), decided by the engine's mode policy."""
        query_type = self._query_type(request)
        # with a tag active its tables answer in remote mode too (One._call_mode)
        return query_type == Mode.REMOTE or (self._one.mode == Mode.REMOTE
                                             and self._one.tag is None)

    def _query_type(self, request: SearchRequest) -> str | None:
        if request.alyx_only and request.query_type is None:
            return str(Mode.REMOTE)
        return str(request.query_type) if request.query_type is not None else None

    def search_sessions(self, request: SearchRequest, *, cancel: threading.Event | None = None,
                        on_page: Progress | None = None,
                        on_rows: Callable[[pd.DataFrame], None] | None = None
                        ) -> Answer[pd.DataFrame]:
        """ONE's ``search`` (``details=True`` rows) with what happened; remote searches report
        pages through ``on_page(done, total)`` and the rows so far through ``on_rows``."""
        terms = dict(request.terms)
        remote = self.goes_to_alyx(request)
        if remote and request.page_size:
            terms["limit"] = request.page_size
        with self._recording(request.no_cache) as rec:
            try:
                value = self._one.search_sessions(
                    query_type=self._query_type(request), cancel=cancel,
                    on_page=on_page if remote else None, on_rows=on_rows if remote else None,
                    **terms)
            except (AlyxError, OfflineError, ValueError, TypeError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def suggestions(self) -> Answer[Suggestions]:
        """Labs, subjects and projects of the local tables (no network)."""
        with self._recording() as rec:
            try:
                frame = self._one.search_sessions(query_type=str(Mode.LOCAL))
            except (ValueError, TypeError, OSError, OfflineError) as exc:
                return rec.answer(error=exc)
        return rec.answer(suggestions_of(frame))

    def session_details(self, eid: str, row: Mapping[str, Any] | None = None, *,
                        no_cache: bool = False) -> Answer[SessionDetails]:
        """Everything Details shows of one session: its fields (the results row, completed by
        ``get_details``), its datasets (CRITICAL included) and whether each is on this disk
        where ONE-api looks, its probe insertions, and online its Alyx record."""
        from one_tui.engine.details import build_details

        with self._recording(no_cache) as rec:
            try:
                value = build_details(self._one, eid, dict(row or {}))
            except (AlyxError, OfflineError, ValueError, KeyError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def subject_history(self, nickname: str, *, ask_alyx: bool = True,
                        cancel: threading.Event | None = None,
                        on_progress: Progress | None = None,
                        no_cache: bool = False) -> Answer[SubjectHistory]:
        """A subject's sessions (the tables) and, in a mode that may ask Alyx, each one's trial
        counts and the subject's training status (engine/subject.py); ``lacking`` says what
        is missing and why, the answer's source where it came from."""
        from one_tui.engine.remote.pacing import Pacer
        from one_tui.engine.subject import subject_history

        if self._pacer is None:
            self._pacer = Pacer()
        with self._recording() as rec:
            try:
                value = subject_history(self._one, nickname, ask_alyx=ask_alyx, cancel=cancel,
                                        on_progress=on_progress, pacer=self._pacer,
                                        no_cache=no_cache)
            except (AlyxError, OfflineError, ValueError, KeyError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def find_session(self, text: str) -> Answer[str]:
        """The eid of what a user pasted: an eid in any case, even broken by spaces or a line
        break (spreadsheets, e-mail), or a session folder (``.../<lab>/Subjects/<subject>/
        <date>/<number>``), looked up in the tables, then on Alyx when the mode allows. The
        value is None when nothing matches; ``error`` says why the text is neither."""
        with self._recording() as rec:
            try:
                value = self._one.to_eid(pasted_id(text))
            except (AlyxError, OfflineError, ValueError, KeyError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def count_sessions(self, table: pa.Table, terms: Mapping[str, Any] | None = None
                       ) -> Answer[SessionCounts]:
        """Sessions of a result (the Arrow table the app shows) per lab, subject, project,
        protocol and week or month; with the search's dataset terms, per dataset QC too (the
        tables' datasets, no network)."""
        from one_tui.engine.counts import dataset_qc_counts, session_counts

        with self._recording() as rec:
            try:
                value = session_counts(table)
                terms = terms or {}
                if "eid" in table.column_names and (terms.get("dataset") or terms.get("datasets")):
                    with self._one.tables.lock:
                        qc = dataset_qc_counts(self._one.tables.cache,
                                               table.column("eid").to_pylist(), terms,
                                               self._one.wildcards)
                    value = SessionCounts(value.total, {**value.by, "dataset_qc": qc},
                                          value.period, value.timeline)
            except (ValueError, TypeError, KeyError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def preload_datasets(self, *, cancel: threading.Event | None = None) -> Answer[bool]:
        """Read the datasets table now (in a background worker), so the first dataset search
        does not; its notices (a corrupt file) come back in the answer."""
        with self._recording() as rec:
            try:
                value = self._one.preload_datasets(cancel)
            except (ValueError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    # -- jobs -------------------------------------------------------------------------------
    def connect(self, *, cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The network part of ONE's constructor: log in, fetch newer tables when due."""
        return self._one.connect(cancel=cancel, on_progress=on_progress)

    def login(self, username: str, password: str, *, cancel: threading.Event | None = None,
              on_progress: Phase | None = None) -> Outcome:
        """Log in (the password is used once, never kept), then the table update that
        follows; a refused login is an outcome, not an exception."""
        try:
            return self._one.login_job(username, password, cancel=cancel,
                                       on_progress=on_progress)
        except AuthenticationError as exc:
            return Outcome(OutcomeKind.LOGIN_REFUSED, "Alyx refused the login",
                           detail=one_line(exc), asked_alyx=True)
        except LoginRequired as exc:
            return Outcome(OutcomeKind.LOGIN_NEEDED, one_line(exc), asked_alyx=True)
        except AlyxConnectionError as exc:
            return Outcome(OutcomeKind.UNREACHABLE, f"Alyx unreachable: {one_line(exc)}",
                           asked_alyx=True)
        except OfflineError as exc:
            return Outcome(OutcomeKind.LOCAL, one_line(exc))

    def refresh(self, how: Mode, *, cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """``r`` (``auto``: only when expired) or ``R`` (``refresh``: ask Alyx now)."""
        return self._one.refresh(str(how), cancel=cancel, on_progress=on_progress)

    def tags(self) -> Answer[tuple[TagInfo, ...]]:
        """The database's release tags (``/tags``), each with Alyx's ``cache/info/<tag>/`` and
        the date of its tables on this disk: the tag picker's rows. Offline (local mode, no
        database): the tags whose tables are on this disk, Alyx not asked."""
        from one_tui.engine.tablesets import describe_tags, tags_on_disk

        client = self._one.alyx
        with self._recording() as rec:
            if client is None or self._one.offline:  # what can be switched to without Alyx
                return rec.answer(tuple(tags_on_disk(self._one.cache_dir)))
            try:
                value = tuple(describe_tags(client, self._one.cache_dir))
            except (AlyxError, OSError, ValueError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def use_tables(self, tag: str | None, *, cancel: threading.Event | None = None,
                   on_progress: Phase | None = None) -> Outcome:
        """Make ``tag``'s tables (None or ``"full"``: the full ones) the active set, as one
        action: load them from disk, download them when Alyx has newer ones (not in local
        mode), and remember the choice for this database (one-tui's own file)."""
        from one_tui.engine import tablesets
        from one_tui.engine.core.sets import FULL, check_tag, set_name

        one = self._one
        try:
            tag = None if tag in (None, FULL) else check_tag(str(tag))
        except ValueError as exc:
            return Outcome(OutcomeKind.FAILED, one_line(exc))
        before = (one.tables.tag, one.tables.folder)
        with results.recording() as rec:
            try:
                one.tables.use(tag)
            except (OSError, ValueError) as exc:
                return Outcome(OutcomeKind.FAILED, f"tables of {set_name(tag)} not loaded: "
                               f"{one_line(exc)}", notices=tuple(rec.notices))
            if one.alyx is None or one.offline:
                result = Outcome(OutcomeKind.LOCAL, f"tables from disk ({one.tables.when()}); "
                                 "Alyx not asked", one.tables.created_time())
            else:
                result = one.jobs.update_tables(force=False, cancel=cancel, on_phase=on_progress)
            message = f"{set_name(tag)}: {result.message}"
            if (result.kind is OutcomeKind.CANCELLED or result.kind.failed) \
                    and not one.tables.has_tables:
                # nothing to show for the new set: the switch did not happen (one action)
                one.tables.use(*before)
                message += f"; still on {set_name(before[0])}"
            else:
                tablesets.remember_set(one.alyx.base_url if one.alyx else None, tag)
        return Outcome(result.kind, message, result.created,
                       tuple(rec.notices) + result.notices, result.asked_alyx, result.detail)

    def freeze(self, dest: str | Path, *, terms: Mapping[str, Any] | None = None,
               eids: Sequence[str] | None = None, with_data: bool = False,
               cancel: threading.Event | None = None,
               on_progress: Phase | None = None) -> Answer[FreezeReport]:
        """A self-contained ONE cache folder for a node without network: the active set's
        tables restricted to ``eids`` (or to the sessions ``terms`` select in the tables on
        disk) and their datasets, optionally their files (``with_data``: hard-linked or copied
        after a size and md5 check; files not on this disk are named, not downloaded)."""
        from one_tui.engine.freeze import freeze

        with self._recording() as rec:
            try:
                if eids is None:
                    found = self._one.search_sessions(query_type=str(Mode.LOCAL),
                                                      **dict(terms or {}))
                    eids = [str(e) for e in found.index]
                value = freeze(self._one, dest, eids, with_data=with_data, cancel=cancel,
                               on_progress=on_progress)
            except (ValueError, TypeError, OSError, KeyError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    # -- data: the download manager (engine/fetch) -------------------------------------------
    def plan_download(self, eids: Sequence[str], *, dataset: str | None = None,
                      datasets: Sequence[str] | None = None, collection: str | None = None,
                      revision: str | None = None, dataset_ids: Sequence[str] | None = None,
                      all_revisions: bool = False, uuid_filenames: bool | None = None,
                      verify: bool = False, cancel: threading.Event | None = None,
                      on_progress: OnFetchProgress | None = None) -> Answer[DownloadPlan]:
        """The files the selection names in these sessions (their datasets as the tables or,
        in remote mode, Alyx list them), which of them ONE-api would still have to download
        (size, and hash once per change of size/mtime: the verify-once record; ``verify``
        re-hashes), the bytes to fetch and the free space on the target filesystem.
        ``plan.refusal`` says why it cannot start (does not fit, no data server). A selection
        matching nothing is an error (``FetchError``) that says so. Only the default revision
        unless ``revision`` or ``all_revisions``. ``uuid_filenames``: ONE's option (files go
        to ``name.<uuid>.ext``); None: either name counts as on disk, downloads get ONE's
        plain name."""
        from one_tui.engine.fetch.plan import plan_download

        selection = Selection(dataset=dataset or None, datasets=tuple(datasets or ()),
                              collection=collection, revision=revision,
                              dataset_ids=tuple(dataset_ids or ()), all_revisions=all_revisions)
        with self._recording() as rec:
            try:
                value = plan_download(self._one, list(eids), selection,
                                      uuid_filenames=uuid_filenames, verify=verify,
                                      cancel=cancel, on_progress=on_progress)
            except (AlyxError, OfflineError, ValueError, KeyError, OSError) as exc:
                return rec.answer(error=exc)
        return rec.answer(value)

    def download(self, plan: DownloadPlan, *, jobs: int | None = None,
                 cancel: threading.Event | None = None,
                 on_progress: OnFetchProgress | None = None) -> Answer[DownloadReport]:
        """Fetch ``plan.to_fetch`` from the data server (HTTP Basic from ONE's settings, sent
        up front; ``jobs`` files at once, default ``ONE_HTTP_DL_THREADS`` or 4): each file is
        streamed to a private partial name, its size and hash checked while it streams, then
        renamed into ONE's name; a partial is resumed with ``Range``. ``on_progress`` gets
        :class:`FetchProgress` events (throttle them in the UI); ``cancel`` stops at once and
        keeps the partials. Nothing in ONE's tables is written. A refused plan is not
        started (the answer's error says why)."""
        from one_tui.engine.fetch.job import run_download

        with self._recording() as rec:
            try:
                value = run_download(self._one, plan, jobs=jobs, cancel=cancel,
                                     on_progress=on_progress)
            except (ValueError, OSError) as exc:
                return rec.answer(error=exc)
            if value.cancelled:
                results.cancelled()
        return rec.answer(value)

    def check_disk(self, eids: Sequence[str], *, dataset: str | None = None,
                   datasets: Sequence[str] | None = None, collection: str | None = None,
                   revision: str | None = None, dataset_ids: Sequence[str] | None = None,
                   all_revisions: bool = False, uuid_filenames: bool | None = None,
                   verify: bool = False, cancel: threading.Event | None = None,
                   on_progress: OnFetchProgress | None = None) -> Answer[DiskReport]:
        """The disk doctor: for each selected dataset, what is on this disk (``DiskState``:
        on disk, missing, size or hash mismatch, a stranded ``name.<uuid>.ext`` left by ONE,
        one-tui's partial) and the actions that fix it. Hashes a file only when its size or
        mtime changed since one-tui last verified it (``verify``: every file)."""
        from one_tui.engine.fetch.doctor import check_disk

        selection = Selection(dataset=dataset or None, datasets=tuple(datasets or ()),
                              collection=collection, revision=revision,
                              dataset_ids=tuple(dataset_ids or ()), all_revisions=all_revisions)
        with self._recording() as rec:
            try:
                value = check_disk(self._one, list(eids), selection,
                                   uuid_filenames=uuid_filenames, verify=verify,
                                   cancel=cancel, on_progress=on_progress)
            except (AlyxError, OfflineError, ValueError, KeyError, OSError) as exc:
                return rec.answer(error=exc)
            if value.cancelled:
                results.cancelled()
        return rec.answer(value)

    def fix_disk(self, findings: Sequence[DiskFinding], action: DiskAction, *,
                 jobs: int | None = None, cancel: threading.Event | None = None,
                 on_progress: OnFetchProgress | None = None) -> Outcome:
        """Apply ``action`` to the findings that offer it: ``FINALISE`` renames a stranded
        ``name.<uuid>.ext`` to ONE's name after its size and hash check, ``REMOVE`` deletes
        the damaged file, stranded file or partial (ask the user first), ``DOWNLOAD``
        fetches them (resuming partials). The outcome says how many and which failed."""
        from one_tui.engine.fetch.doctor import fix_disk

        try:
            return fix_disk(self._one, tuple(findings), DiskAction(action), jobs=jobs,
                            cancel=cancel, on_progress=on_progress)
        except (ValueError, OSError) as exc:
            return Outcome(OutcomeKind.FAILED, one_line(exc))

    def set_mode(self, mode: Mode) -> Outcome:
        """Switch ONE's mode; nothing is sent (the next call asks Alyx if the mode says so)."""
        with results.recording() as rec:
            try:
                self._one.mode = str(mode)
            except (OfflineError, ValueError) as exc:
                return Outcome(OutcomeKind.FAILED, one_line(exc), notices=tuple(rec.notices))
        kind = OutcomeKind.LOCAL if mode is Mode.LOCAL else OutcomeKind.DONE
        return Outcome(kind, f"mode {mode}", notices=tuple(rec.notices))

    def clear_rest_cache(self) -> Outcome:
        """Delete this database's REST cache entries (``<cache_dir>/.rest``)."""
        client = self._one.alyx
        if client is None:
            return Outcome(OutcomeKind.LOCAL, "no REST cache: no Alyx database is set up")
        try:
            client.clear_rest_cache()
        except OSError as exc:
            return Outcome(OutcomeKind.FAILED, f"REST cache not cleared: {one_line(exc)}")
        return Outcome(OutcomeKind.DONE, "REST cache cleared")

    # -- helpers ----------------------------------------------------------------------------
    @contextmanager
    def _recording(self, no_cache: bool = False) -> Iterator[results.Recorder]:
        """Record the call (source, notices, fallback); ``no_cache`` bypasses the REST cache
        for this thread's call only."""
        client = self._one.alyx
        with results.recording() as rec:
            if no_cache and client is not None:
                from one_tui.engine.remote.client import no_cache as bypass

                with bypass(client):
                    yield rec
            else:
                yield rec


def pasted_id(text: str) -> str:
    """A pasted session id as ONE reads it: quotes and outer spaces gone; an eid with spaces or
    line breaks inside joined up (a path keeps its inner spaces: folders may have them)."""
    text = text.strip().strip("'\"").strip()
    joined = "".join(text.split())
    if re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", joined):
        return joined
    return text


def suggestions_of(frame: pd.DataFrame | None) -> Suggestions:
    """Distinct labs, subjects and projects of a sessions frame (projects split on commas)."""
    if frame is None or len(frame) == 0:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key in ("lab", "subject"):
        if key in frame.columns:
            out[key] = tuple(sorted({str(v) for v in frame[key].dropna().unique()}))
    if "projects" in frame.columns:
        projects: set[str] = set()
        values: Any = frame["projects"].dropna()
        with contextlib.suppress(TypeError):  # lists (unhashable): every row
            values = values.unique()  # a few distinct values over many sessions: split each once
        for value in values:
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            projects.update(str(p).strip() for p in items if p and str(p).strip())
        out["project"] = tuple(sorted(projects))
    return out
