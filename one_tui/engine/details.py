"""A session's details, as one use case: what Details shows, built in the engine.

It was assembled in the app from four engine calls under three ``except Exception`` (a bug in
the engine looked like "no insertions"). Here each part says what went wrong in its own way:
a missing insertions table is an empty tuple, an Alyx record that could not be had is a
:class:`RemoteError` with a kind the app acts on, and anything else is the call's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from one_tui.engine.core import results
from one_tui.engine.core.confine import confined
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.spec import QC, one_line
from one_tui.engine.core.types import Mode
from one_tui.engine.core.values import (
    DatasetRow,
    DiskTotals,
    Insertion,
    RemoteError,
    RemoteErrorKind,
    SessionDetails,
)
from one_tui.engine.local import ondisk
from one_tui.engine.local.verified import VerifiedRecord

if TYPE_CHECKING:
    import pandas as pd

    from one_tui.engine.one import One

#: The Alyx record fields Details shows (``/sessions/<eid>``).
REMOTE_KEYS = ("narrative", "qc", "extended_qc", "n_trials", "n_correct_trials", "performance",
               "users", "start_time", "end_time", "location", "procedures")


def build_details(one: One, eid: str, row: Mapping[str, Any]) -> SessionDetails:
    """The session's fields, datasets (CRITICAL included) with what is on this disk, probe
    insertions and, online, its Alyx record."""
    with results.recording() as record:  # the session's record: its fields and Alyx's
        session = _session(one, eid, row)
        remote, remote_error, stale = _remote(one, eid)
    remote_source = None if remote is None else str(record.source) + stale
    records = _datasets(one.list_datasets(eid, qc=QC.CRITICAL.name, details=True))
    records, disk = _on_disk(one.cache_dir, session, records)
    insertions, unknown = _insertions(one, eid)
    return SessionDetails(eid=eid, session=session, datasets=tuple(records),
                          insertions=insertions, remote=remote,
                          remote_error=remote_error, disk=disk, insertions_unknown=unknown,
                          remote_source=remote_source)


def split_rel_path(rel_path: str) -> tuple[str, str, str]:
    """(collection, revision, file name) of an ALF relative path."""
    parts = rel_path.split("/")
    rest, name = parts[:-1], parts[-1]
    revision = ""
    if rest and rest[-1].startswith("#") and rest[-1].endswith("#"):
        revision = rest.pop()[1:-1]
    return "/".join(rest), revision, name


def _session(one: One, eid: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The results row completed by ``get_details`` (the row alone when the tables do not
    hold the session, e.g. a remote search result not merged)."""
    try:
        info = one.get_details(eid)
    except (ValueError, KeyError, OfflineError, AlyxError):
        return dict(row)
    if hasattr(info, "to_dict"):
        info = info.to_dict()
    return {**row, **dict(info)} if isinstance(info, Mapping) else dict(row)


def _datasets(frame: pd.DataFrame | None) -> list[DatasetRow]:
    if frame is None or len(frame) == 0:
        return []
    out = []
    for rec in frame.reset_index().to_dict("records"):
        rel_path = str(rec.get("rel_path", ""))
        collection, revision, name = split_rel_path(rel_path)
        qc = rec.get("qc")
        size = rec.get("file_size")
        file_hash = rec.get("hash")
        default = rec.get("default_revision", True)
        out.append(DatasetRow(
            id=str(rec.get("id", "")), rel_path=rel_path, name=name, collection=collection,
            revision=revision, file_size=None if _missing(size) else int(size),
            qc=str(qc) if qc is not None else "NOT_SET", exists=bool(rec.get("exists", True)),
            default_revision=True if _missing(default) else bool(default),
            hash=file_hash if isinstance(file_hash, str) and file_hash else None))
    return out


def _missing(value: object) -> bool:
    return value is None or value != value  # NaN / NA


def _on_disk(cache_dir: Path, session: Mapping[str, Any], records: list[DatasetRow]
             ) -> tuple[list[DatasetRow], DiskTotals | None]:
    """Mark each dataset ``on_disk`` (stat only these) and total the session."""
    if not session.get("subject") or session.get("date") is None:
        return records, None
    plain = [{"rel_path": r.rel_path, "id": r.id, "file_size": r.file_size, "exists": r.exists,
              "default_revision": r.default_revision} for r in records]
    try:
        found, totals = ondisk.check_datasets(cache_dir, session, plain)
        folder = confined(Path(cache_dir), *ondisk.session_path(session).parts)
    except (TypeError, ValueError, KeyError):  # a session record without ONE's parts, or
        return records, None                    # one that leads outside (OutsideFolder)
    record = VerifiedRecord(Path(cache_dir))  # read once, only if a file is there
    marked = [DatasetRow(**{**r.__dict__, "on_disk": p.present, "disk": p.state,
                            "verified": bool(p.present and p.path is not None and r.hash
                                             and record.is_verified(p.path, p.size,
                                                                    p.mtime_ns, r.hash))})
              for r, p in zip(records, found, strict=True)]
    return marked, DiskTotals(str(folder), totals.n_datasets, totals.n_on_disk,
                              totals.bytes_on_disk, totals.bytes_on_server)


def _insertions(one: One, eid: str) -> tuple[tuple[Insertion, ...], str | None]:
    """The session's probe insertions, and why they are not known when the tables cannot tell.

    ONE's tables (cache.zip) hold no insertions table; what the tables in memory hold is what
    Alyx sent for the sessions asked about. So in local mode, no table or no rows for this
    session is "not known here", never zero; other modes ask Alyx when the tables have none.
    """
    local = one.policy.call_mode(None) is Mode.LOCAL
    try:
        found = one.eid2pid(eid, details=True)
    except NotImplementedError:  # no insertions table, local mode
        return (), ("the local tables list no insertions (ONE's cache has no such table); "
                    "auto or remote mode asks Alyx")
    except (OfflineError, AlyxError, KeyError, ValueError) as exc:
        return (), f"not known: {one_line(exc)}"
    if not found or found[0] is None:
        if local:
            return (), ("none in the local tables, which list only what Alyx sent this "
                        "folder; auto or remote mode asks Alyx")
        return (), None
    pids, names, records = cast(tuple[list[Any], list[Any], list[Any] | None], found)
    recs = records or [{}] * len(pids)
    return tuple(Insertion(str(pid), str(name), (rec or {}).get("model"))
                 for pid, name, rec in zip(pids, names, recs, strict=False)), None


def _remote(one: One, eid: str
            ) -> tuple[dict[str, Any] | None, RemoteError | None, str]:
    """The session's Alyx record, online only (and " (stale ...)" when the REST cache answered
    for an unreachable Alyx); why not, when it could not be had."""
    if one.alyx is None or one.offline:
        return None, None, ""
    try:
        with results.recording() as rec:
            record = one.get_details(eid, full=True, query_type="remote")
    except AlyxConnectionError as exc:
        return None, RemoteError(RemoteErrorKind.UNREACHABLE,
                                 f"Alyx record unavailable: {one_line(exc, named=True)}"), ""
    except (LoginRequired, AuthenticationError) as exc:
        return None, RemoteError(RemoteErrorKind.LOGIN,
                                 f"Alyx record unavailable: {one_line(exc, named=True)}"), ""
    except (AlyxError, OfflineError, ValueError, KeyError) as exc:
        return None, RemoteError(RemoteErrorKind.OTHER,
                                 f"Alyx record unavailable: {one_line(exc, named=True)}"), ""
    record = dict(record or {})
    out = {k: record[k] for k in REMOTE_KEYS if k in record}
    if "performance" not in out and record.get("n_trials"):
        correct = record.get("n_correct_trials") or 0
        out["performance"] = round(100 * correct / record["n_trials"], 1)
    return out, None, " (stale: Alyx unreachable)" if rec.stale else ""
