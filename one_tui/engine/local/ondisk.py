"""Which of a session's datasets are on this disk, where ONE-api's loaders look for them.

ONE-api (one/api.py ``_check_filesystem``) looks for a dataset at
``<cache_dir>/<session_path>/<rel_path>``, where ``session_path`` is
``<lab>/Subjects/<subject>/<YYYY-MM-DD>/<number:03d>`` (``one.converters.session_record2path``;
without a lab, ``<subject>/<date>/<number>``). A revision is part of ``rel_path``
(``alf/#2020-08-31#/spikes.times.npy``), so it needs nothing more. With ``uuid_filenames`` ONE
inserts the dataset id before the extension (``one.alf.path.add_uuid_string``:
``trials.intervals.<uuid>.npy``); both names are looked for here.

Only the datasets asked about are statted (the ones the Details pane shows), from a worker
thread: never from a widget. No Textual here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from one_tui.engine.core.confine import OutsideFolder, confined

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def session_path(session: Mapping[str, Any]) -> PurePosixPath:
    """ONE's relative session folder: lab/Subjects/subject/date/number (number zero-padded)."""
    lab = session.get("lab")
    date = session.get("date")
    date_text = (date.isoformat()[:10] if date is not None and hasattr(date, "isoformat")
                 else str(date)[:10])
    parts = [lab, "Subjects"] if lab else []
    number = session.get("number")
    parts += [str(session["subject"]), date_text, str(int(str(number))).zfill(3)
              if str(number).strip().isdigit() else str(number)]
    return PurePosixPath(*parts)


def with_uuid(rel_path: str, dataset_id: str) -> str:
    """The name variant ONE uses with uuid_filenames: the id before the extension (replacing an
    id already there, as ``add_uuid_string`` does)."""
    path = PurePosixPath(rel_path)
    parts = path.stem.split(".")
    if parts and _UUID.match(parts[-1]):
        parts = parts[:-1]
    return str(path.parent / f"{'.'.join(parts)}.{dataset_id}{path.suffix}")


def candidates(cache_dir: str | os.PathLike[str], session: Mapping[str, Any], rel_path: str,
               dataset_id: str | None = None) -> list[Path]:
    """Where ONE would find this file, plain name first; none when the session's fields or
    the ``rel_path`` would lead outside ``cache_dir`` (``core.confine``: absolute, ``..``)."""
    try:
        base = confined(Path(cache_dir), *session_path(session).parts)
        out = [confined(base, rel_path)]
        if dataset_id and _UUID.match(str(dataset_id)):
            out.append(confined(base, with_uuid(rel_path, str(dataset_id))))
    except OutsideFolder:
        return []
    return out


@dataclass(frozen=True)
class Presence:
    """One dataset: the file found on this disk (None if not) and its size there."""

    path: Path | None
    size: int = 0

    @property
    def present(self) -> bool:
        return self.path is not None


def presence(cache_dir: str | os.PathLike[str], session: Mapping[str, Any], rel_path: str,
             dataset_id: str | None = None) -> Presence:
    """Stat the candidate paths of one dataset (a stat each, at most two)."""
    for path in candidates(cache_dir, session, rel_path, dataset_id):
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            return Presence(path, st.st_size)
    return Presence(None)


@dataclass(frozen=True)
class Totals:
    """A session on this disk against the server: datasets and bytes."""

    n_datasets: int
    n_on_disk: int
    bytes_on_disk: int
    bytes_on_server: int


def check_datasets(cache_dir: str | os.PathLike[str], session: Mapping[str, Any],
                   datasets: Iterable[Mapping[str, Any]]) -> tuple[list[Presence], Totals]:
    """Presence of each dataset (records with ``rel_path``, optional ``id`` and ``file_size``)
    and the session's totals. The server's total counts what the server says exists."""
    found: list[Presence] = []
    on_server = 0
    for d in datasets:
        found.append(presence(cache_dir, session, str(d.get("rel_path") or ""), d.get("id")))
        size = d.get("file_size")
        if d.get("exists", True) and isinstance(size, int | float) and size == size:
            on_server += int(size)
    return found, Totals(
        n_datasets=len(found),
        n_on_disk=sum(p.present for p in found),
        bytes_on_disk=sum(p.size for p in found),
        bytes_on_server=on_server,
    )
