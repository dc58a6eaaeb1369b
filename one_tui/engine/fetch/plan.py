"""From sessions and selectors to the files to fetch: the plan, before any byte moves.

The datasets are the session's rows as ``One.list_datasets`` lists them (the tables; remote
mode asks Alyx), CRITICAL included, the default revision only unless a revision is asked for.
Each becomes a :class:`FileTask` (its URL as ONE builds it, its target where ONE looks); what is
already on this disk as ONE would load it is checked by size, and by hash once per change
(the verify-once record). The free space is that of the filesystem the files go to.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from one_tui.engine.core import results
from one_tui.engine.core.confine import OutsideFolder, confined
from one_tui.engine.core.errors import AlyxError, OfflineError
from one_tui.engine.core.spec import QC, shown
from one_tui.engine.core.types import DiskState, Mode
from one_tui.engine.fetch.urls import dataset_url
from one_tui.engine.fetch.values import (
    DownloadPlan,
    FetchProgress,
    FileTask,
    OnFetchProgress,
    Selection,
)
from one_tui.engine.local import checksum, ondisk, patterns
from one_tui.engine.local.verified import VerifiedRecord

if TYPE_CHECKING:
    from one_tui.engine.one import One

__all__ = ["FetchError", "NothingMatches", "select_tasks", "plan_download", "data_server",
           "free_space", "Checked", "check_task"]


class FetchError(ValueError):
    """A download cannot be planned as asked (one line, says what to change)."""


class NothingMatches(FetchError):
    """The selection names no dataset of these sessions."""


def data_server(one: One) -> tuple[str | None, tuple[str, str] | None]:
    """ONE's ``HTTP_DATA_SERVER`` of this database and its Basic login (None when ONE's
    settings have none, as openalyx's public URL)."""
    from one_tui.engine.params import get_settings

    if one.data_server is not None:  # given when the engine was opened (the demo's)
        return one.data_server
    base = one.alyx.base_url if one.alyx is not None else None
    settings = get_settings(base) if base else None
    raw: Mapping[str, Any] = settings.raw if settings is not None else {}
    server = raw.get("HTTP_DATA_SERVER")
    if base and not server:
        from one_tui.engine.params import DEFAULT_HTTP_DATA_SERVER

        server = DEFAULT_HTTP_DATA_SERVER
    if base and "openalyx" in base and server:  # one.params._patch_params: always /public
        server = str(server).rstrip("/")
        if not server.endswith("/public"):
            server += "/public"
    user, pwd = raw.get("HTTP_DATA_SERVER_LOGIN"), raw.get("HTTP_DATA_SERVER_PWD")
    login = (str(user), str(pwd)) if user and pwd is not None else None
    return (str(server) if server else None), login


def free_space(folder: Path) -> int | None:
    """Free bytes on the filesystem ``folder`` is (or will be) on."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    rows: list[dict[str, Any]] = frame.reset_index().to_dict("records")
    return rows


def _session(one: One, eid: str) -> dict[str, Any]:
    """The session's lab, subject, date and number: from the tables (no request), else from
    Alyx when the mode allows it."""
    info: Any = None
    try:
        info = one.get_details(eid, query_type=str(Mode.LOCAL))
    except (ValueError, KeyError, OfflineError, AlyxError):
        info = None
    if info is None and one.policy.call_mode(None) is not Mode.LOCAL:
        info = one.get_details(eid)
    if hasattr(info, "to_dict"):
        info = info.to_dict()
    if not isinstance(info, Mapping) or not info.get("subject"):
        raise FetchError(f"session {eid} is not in the tables (search for it first)")
    return dict(info)


def _datasets_by_session(one: One, eids: list[str], selection: Selection
                         ) -> dict[str, list[dict[str, Any]]]:
    """Each session's dataset rows: one listing of the tables for all of them, or (remote
    mode) ONE's ``GET /sessions/<eid>`` per session."""
    default_only = not (selection.all_revisions or selection.revision or selection.dataset_ids)

    def listing(eid: str | None) -> Any:
        return one.list_datasets(eid, collection=selection.collection,
                                 revision=selection.revision, qc=QC.CRITICAL.name,
                                 details=True, default_revisions_only=default_only,
                                 keep_eid_index=eid is None)

    if one.policy.call_mode(None) is Mode.REMOTE or len(eids) == 1:
        return {eid: _frame_rows(listing(eid)) for eid in eids}
    frame = listing(None)
    out: dict[str, list[dict[str, Any]]] = {eid: [] for eid in eids}
    wanted = set(eids)
    for row in _frame_rows(frame):
        eid = str(row.get("eid", ""))
        if eid in wanted:
            out[eid].append(row)
    return out


def _int(value: Any) -> int | None:
    if value is None or value != value:  # NaN / NA
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _split(rel_path: str) -> tuple[str, str]:
    parts = rel_path.split("/")[:-1]
    revision = ""
    if parts and parts[-1].startswith("#") and parts[-1].endswith("#"):
        revision = parts.pop()[1:-1]
    return "/".join(parts), revision


def _chosen(rows: list[dict[str, Any]], selection: Selection, wildcards: bool
            ) -> list[dict[str, Any]]:
    out = rows
    if selection.dataset:
        test = patterns.text_matcher(selection.dataset, wildcards)
        out = [r for r in out if test(str(r.get("rel_path", "")))]
    if selection.datasets:
        names = set(selection.datasets)
        out = [r for r in out if str(r.get("rel_path", "")) in names
               or str(r.get("rel_path", "")).rsplit("/", 1)[-1] in names]
    if selection.dataset_ids:
        ids = set(selection.dataset_ids)
        out = [r for r in out if str(r.get("id", "")) in ids]
    return out


def select_tasks(one: One, eids: Iterable[str], selection: Selection, *, server: str | None,
                 uuid_filenames: bool | None = None) -> list[FileTask]:
    """The selected datasets of ``eids`` as tasks (NothingMatches when there is none)."""
    tasks: list[FileTask] = []
    wanted = list(dict.fromkeys(str(e) for e in eids))
    if not wanted:
        raise FetchError("no session given")
    listed = _datasets_by_session(one, wanted, selection)
    outside: list[str] = []
    for eid in wanted:
        session = _session(one, eid)
        rel_session = str(ondisk.session_path(session))
        try:
            base = confined(Path(one.cache_dir), *ondisk.session_path(session).parts)
        except OutsideFolder as exc:
            raise FetchError(f"session {eid}: {exc}") from None
        for row in _chosen(listed[eid], selection, one.wildcards):
            rel_path = str(row.get("rel_path", ""))
            dataset_id = str(row.get("id", ""))
            if not row.get("exists", True):
                continue  # not on a server repository (a lab-only file)
            try:
                target = confined(base, ondisk.with_uuid(rel_path, dataset_id)
                                  if uuid_filenames else rel_path)
            except OutsideFolder:
                outside.append(rel_path)  # never fetched: it would land outside the folder
                continue
            collection, revision = _split(rel_path)
            file_hash = row.get("hash")
            tasks.append(FileTask(
                eid=eid, dataset_id=dataset_id, rel_path=rel_path, collection=collection,
                revision=revision, file_size=_int(row.get("file_size")),
                hash=str(file_hash) if isinstance(file_hash, str) and file_hash else None,
                url=dataset_url(server, rel_session, rel_path, dataset_id) if server else "",
                target=target, session_path=rel_session,
                default_revision=bool(row.get("default_revision", True))))
    if outside:
        results.note(f"{len(outside)} datasets not downloaded: their rel_path leads outside "
                     f"the cache folder ({shown(outside[0], limit=120)})")
    if not tasks:
        sessions = f"{len(wanted)} session" + ("s" if len(wanted) != 1 else "")
        raise NothingMatches(f"nothing matches: no dataset of the {sessions} given is "
                             f"selected by {selection.describe()}")
    return tasks


class Checked:
    """What a task's files on disk are: ``presence`` plus whether the bytes were verified."""

    def __init__(self, found: ondisk.Presence, verified: bool, hash_bad: bool) -> None:
        self.found = found
        self.verified = verified
        self.hash_bad = hash_bad

    @property
    def state(self) -> DiskState:
        if self.hash_bad:
            return DiskState.HASH_MISMATCH
        return self.found.state


def check_task(one: One, task: FileTask, record: VerifiedRecord, *, uuid_filenames: bool | None,
               verify: bool, cancel: threading.Event | None = None,
               on_bytes: Any = None) -> Checked:
    """Stat the task's names; hash a loadable or stranded file when its size/mtime changed
    since it was last verified (``verify``: always)."""
    found = _presence(one.cache_dir, task, uuid_filenames)
    if found.state not in (DiskState.OK, DiskState.STRANDED) or found.path is None:
        return Checked(found, False, False)
    if checksum.algorithm(task.hash) is None:
        return Checked(found, False, False)
    if not verify and record.is_verified(found.path, found.size, found.mtime_ns, str(task.hash)):
        return Checked(found, True, False)
    digest = checksum.file_digest(found.path, task.hash, cancel, on_bytes)
    if digest is None:  # cancelled
        return Checked(found, False, False)
    if checksum.matches(digest, task.hash):
        record.mark(found.path, task.hash)
        return Checked(found, True, False)
    record.forget(found.path)
    return Checked(found, False, True)


def _presence(cache_dir: Path, task: FileTask, uuid_filenames: bool | None) -> ondisk.Presence:
    root = Path(cache_dir)
    parts = task.session_path.split("/")
    base = confined(root, *parts)
    plain = confined(base, task.rel_path)
    by_uuid = confined(base, ondisk.with_uuid(task.rel_path, task.dataset_id))
    return ondisk.presence_at(plain, by_uuid, task.file_size, uuid_filenames)


def plan_download(one: One, eids: list[str], selection: Selection, *,
                  uuid_filenames: bool | None = None, verify: bool = False,
                  cancel: threading.Event | None = None,
                  on_progress: OnFetchProgress | None = None) -> DownloadPlan:
    """The plan: tasks, what is still to fetch, the bytes and the space."""
    server, _login = data_server(one)
    tasks = select_tasks(one, eids, selection, server=server, uuid_filenames=uuid_filenames)
    record = VerifiedRecord(Path(one.cache_dir))
    to_fetch: list[FileTask] = []
    fetch_bytes = 0
    hashed = [0]
    last = [0.0]
    total = sum(t.file_size or 0 for t in tasks)

    def tick(n: int) -> None:
        hashed[0] += n
        now = time.monotonic()
        if on_progress is not None and now - last[0] > 0.2:
            last[0] = now
            on_progress(FetchProgress(hashed[0], total, 0.0, None, 0, len(tasks),
                                      phase="check"))

    for task in tasks:
        if cancel is not None and cancel.is_set():
            break
        checked = check_task(one, task, record, uuid_filenames=uuid_filenames, verify=verify,
                             cancel=cancel, on_bytes=tick)
        state = checked.state
        if state in (DiskState.OK, DiskState.STRANDED) and not checked.hash_bad:
            continue
        to_fetch.append(task)
        have = checked.found.size if state is DiskState.PARTIAL else 0
        fetch_bytes += max(0, (task.file_size or 0) - have)
    record.save()
    free = free_space(Path(one.cache_dir))
    refusal = None
    if to_fetch and not server:
        refusal = ("no data server: set HTTP_DATA_SERVER in ONE's settings for this database "
                   "(one.params.setup)")
    elif to_fetch and free is not None and fetch_bytes > free:
        refusal = (f"does not fit: {fetch_bytes / 1e6:,.1f} MB to fetch, "
                   f"{free / 1e6:,.1f} MB free on the filesystem of {one.cache_dir}")
    return DownloadPlan(tasks=tuple(tasks), to_fetch=tuple(to_fetch), total_bytes=total,
                        fetch_bytes=fetch_bytes, free_bytes=free,
                        cache_dir=Path(one.cache_dir), refusal=refusal, selection=selection)
