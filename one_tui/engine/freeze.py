"""The hand-off to compute nodes without network: a self-contained ONE cache folder.

People fetch tables and data on a login node, then run ``ONE(mode='local', cache_dir=...)`` in
a batch job that cannot reach Alyx. ``freeze`` writes such a folder: the active set's tables
restricted to the chosen sessions and their datasets, in ONE's format with the source's
metadata (``date_created``, ``origin``, ``database_tags``), so ONE-api 2.11.2 and 3.6.1 read
them and answer the same searches; optionally the files themselves, hard-linked (or copied
across file systems) from the cache folder after a size and md5 check. Files not on this disk
are named, never downloaded here (downloading is the download manager's job).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from one_tui.engine.core.results import Phase
from one_tui.engine.core.sets import FreezeReport
from one_tui.engine.local import checksum, ondisk
from one_tui.engine.local.filewrite import save_table

if TYPE_CHECKING:
    from one_tui.engine.one import One

__all__ = ["freeze", "FreezeError", "MARKER"]

#: Written in a folder freeze made, so a second freeze (after downloading the missing files)
#: may replace its tables; ONE reads only ``*.pqt`` at the top.
MARKER = ".one-tui-frozen"


class FreezeError(ValueError):
    """The folder cannot be written as asked (it already holds ONE tables, nothing matches)."""


def _place(src: Path, dest: Path) -> bool:
    """Hard-link ``src`` at ``dest`` (True), or copy it when the file systems differ."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
        return True
    except OSError:
        shutil.copy2(src, dest)
        return False


def freeze(one: One, dest: str | os.PathLike[str], eids: Iterable[str], *,
           with_data: bool = False, cancel: threading.Event | None = None,
           on_progress: Phase | None = None) -> FreezeReport:
    """Write the tables of ``eids`` (and with ``with_data`` their files) into ``dest``.

    ``dest`` must not hold ONE tables, unless an earlier freeze wrote them (its marker file is
    there): nothing ONE wrote is ever replaced. Raises FreezeError for that and for no sessions.
    """
    folder = Path(dest).expanduser().absolute()
    if any(folder.glob("*.pqt")) and not (folder / MARKER).is_file():
        raise FreezeError(f"{folder} already holds ONE tables that freeze did not write; "
                          "freeze into a new folder")
    wanted = list(dict.fromkeys(str(e) for e in eids))
    if not wanted:
        raise FreezeError("no sessions to freeze")
    with one.tables.lock:
        cache = one.tables.cache
        sessions = cache.sessions
        sessions = sessions[sessions.index.isin(wanted)]
        datasets = cache.datasets
        datasets = datasets[datasets.index.get_level_values(0).isin(sessions.index)]
        raw = {name: dict(meta) for name, meta in cache.meta["raw"].items()}
        tag = one.tag
    if sessions.empty:
        raise FreezeError("none of those sessions is in the tables on this disk")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("written by one-tui freeze\n", encoding="utf-8")
    for name, frame in (("sessions", sessions), ("datasets", datasets)):
        meta = {k: v for k, v in raw.get(name, {}).items()
                if k in ("date_created", "origin", "min_api_version", "database_tags")}
        save_table(frame, folder / f"{name}.pqt", meta)
    report = FreezeReport(folder, len(sessions), len(datasets), tag)
    if with_data:
        report = _with_files(one.cache_dir, folder, sessions, datasets, report, cancel,
                             on_progress)
    return report


def _with_files(cache_dir: Path, folder: Path, sessions: pd.DataFrame, datasets: pd.DataFrame,
                report: FreezeReport, cancel: threading.Event | None,
                on_progress: Phase | None) -> FreezeReport:
    """Put each dataset's file in ``folder`` where ONE looks, checked against Alyx's size and
    md5 first; the ones not on this disk (or not Alyx's bytes) are listed, not fetched."""
    linked = copied = size = 0
    missing: list[str] = []
    mismatched: list[str] = []
    rows: list[tuple[Any, Any]] = list(datasets.iterrows())
    by_eid: dict[Any, dict[str, Any]] = {eid: row.to_dict() for eid, row in sessions.iterrows()}
    for done, ((eid, dataset_id), row) in enumerate(rows):
        if cancel is not None and cancel.is_set():
            break
        if on_progress is not None:
            on_progress("copying files", done, len(rows))
        session = by_eid[eid]
        rel = str(row.get("rel_path") or "")
        where = f"{ondisk.session_path(session)}/{rel}"
        found = ondisk.presence(cache_dir, session, rel, str(dataset_id))
        if found.path is None:
            if bool(row.get("exists", True)):
                missing.append(where)
            continue
        expected_size = row.get("file_size")
        expected_hash = row.get("hash")  # md5 or sha1 by its length, as a download checks
        digest = checksum.file_digest(found.path, expected_hash, cancel)
        if (pd.notna(expected_size) and int(expected_size) != found.size) or (
                digest is not None and not checksum.matches(digest, expected_hash)):
            mismatched.append(where)
            continue
        target = folder / found.path.relative_to(cache_dir)
        if not target.exists():
            if _place(found.path, target):
                linked += 1
            else:
                copied += 1
        size += found.size
    return FreezeReport(report.folder, report.sessions, report.datasets, report.tag, linked,
                        copied, size, tuple(missing), tuple(mismatched))
