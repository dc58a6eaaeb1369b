"""Which of a session's datasets are on this disk, where ONE-api's loaders look for them.

ONE-api (one/api.py ``_check_filesystem``) looks for a dataset at
``<cache_dir>/<session_path>/<rel_path>``, where ``session_path`` is
``<lab>/Subjects/<subject>/<YYYY-MM-DD>/<number:03d>`` (``one.converters.session_record2path``;
without a lab, ``<subject>/<date>/<number>``). A revision is part of ``rel_path``
(``alf/#2020-08-31#/spikes.times.npy``), so it needs nothing more. With ``uuid_filenames`` ONE
inserts the dataset id before the extension (``one.alf.path.add_uuid_string``:
``trials.intervals.<uuid>.npy``); both names are looked for here.

"On this disk" means what ONE-api would load without downloading: the file under ONE's name
with the table's ``file_size`` (ONE 3.6.1 says "local file size mismatch" and downloads a file
of another size again). A file of another size is damaged (``DiskState.SIZE_MISMATCH``), not on
disk; a ``name.<uuid>.ext`` when ONE's option ``uuid_filenames`` is off is stranded (a failed
ONE batch leaves them: ONE never finalises them); one-tui's own partial download
(:func:`partial_path`) is never under a name ONE loads. The hash is not this module's: the
verify-once record (``local/verified.py``) says whether a file's bytes were checked.

Only the datasets asked about are statted (the ones the Details pane shows), from a worker
thread: never from a widget. No Textual here.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from one_tui.engine.core.confine import OutsideFolder, confined
from one_tui.engine.core.types import DiskState

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


#: one-tui's partial downloads: ``.<name>.<hash prefix>.one-tui-part`` beside the final name
#: (same folder, so the rename stays on one filesystem; a leading dot and this suffix: no ALF
#: name, never a file ONE looks for).
PARTIAL_SUFFIX = ".one-tui-part"


def partial_path(target: Path, file_hash: str | None) -> Path:
    """The partial file of ``target`` for the bytes whose hash is ``file_hash`` (a new hash on
    the server is a new partial: never resume other bytes)."""
    tag = (file_hash or "nohash")[:12]
    return target.with_name(f".{target.name}.{tag}{PARTIAL_SUFFIX}")


def partials_of(target: Path) -> list[Path]:
    """Every partial download of ``target`` on disk (any hash)."""
    try:
        return sorted(p for p in target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}")
                      if p.name.startswith(f".{target.name}."))
    except OSError:
        return []


@dataclass(frozen=True)
class Presence:
    """One dataset on this disk: its state, the file the state is about and its size.

    ``path`` is ONE's file (plain name, or ``name.<uuid>.ext``), the stranded file or the
    partial; ``size`` its size; ``mtime_ns`` its modification time (the verify record's key)."""

    path: Path | None
    size: int = 0
    state: DiskState = DiskState.MISSING
    mtime_ns: int = 0
    uuid_name: bool = False

    @property
    def present(self) -> bool:
        """ONE-api would load it without downloading (right size under a name it looks for
        with one of its two ``uuid_filenames`` settings)."""
        return self.state is DiskState.OK


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def presence(cache_dir: str | os.PathLike[str], session: Mapping[str, Any], rel_path: str,
             dataset_id: str | None = None, file_size: int | None = None,
             uuid_filenames: bool | None = None) -> Presence:
    """Stat the names of one dataset (at most two stats, plus a folder glob when neither is
    there) and say what ONE would make of them. ``uuid_filenames``: ONE's option; None when
    not known (either name is ONE's: a right-size ``name.<uuid>.ext`` counts as on disk)."""
    names = candidates(cache_dir, session, rel_path, dataset_id)
    if not names:
        return Presence(None)
    return presence_at(names[0], names[1] if len(names) > 1 else None, file_size,
                       uuid_filenames)


def presence_at(plain: Path, by_uuid: Path | None, file_size: int | None = None,
                uuid_filenames: bool | None = None) -> Presence:
    """:func:`presence` for the two names of a dataset already built (and confined)."""
    order = [(by_uuid, True), (plain, False)] if uuid_filenames else [(plain, False),
                                                                       (by_uuid, True)]
    for path, is_uuid in order:
        if path is None:
            continue
        st = _stat(path)
        if st is None:
            continue
        right = file_size is None or st.st_size == int(file_size)
        ones = uuid_filenames is None or bool(uuid_filenames) == is_uuid
        if not right:
            state = DiskState.SIZE_MISMATCH
        else:
            state = DiskState.OK if ones else DiskState.STRANDED
        return Presence(path, st.st_size, state, st.st_mtime_ns, is_uuid)
    target = by_uuid if uuid_filenames and by_uuid is not None else plain
    for part in partials_of(target):
        st = _stat(part)
        if st is not None:
            return Presence(part, st.st_size, DiskState.PARTIAL, st.st_mtime_ns)
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
    """Presence of each dataset (records with ``rel_path``, optional ``id``, ``file_size``
    and ``default_revision``) and the session's totals, which count the default revisions
    only (what ONE loads unless asked for a revision). The server's total counts what the
    server says exists."""
    found: list[Presence] = []
    counted: list[Presence] = []
    on_server = 0
    for d in datasets:
        size = d.get("file_size")
        known = isinstance(size, int | float) and size == size
        here = presence(cache_dir, session, str(d.get("rel_path") or ""), d.get("id"),
                        int(size) if known else None)  # type: ignore[arg-type]
        found.append(here)
        if d.get("default_revision", True) is False:
            continue
        counted.append(here)
        if d.get("exists", True) and known:
            on_server += int(size)  # type: ignore[arg-type]
    return found, Totals(
        n_datasets=len(counted),
        n_on_disk=sum(p.present for p in counted),
        bytes_on_disk=sum(p.size for p in counted if p.present),
        bytes_on_server=on_server,
    )
