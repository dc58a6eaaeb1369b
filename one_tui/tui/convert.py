"""Engine results -> what the panes show (Arrow tables, plain dicts). Runs in worker threads.

pandas and pyarrow are imported inside the functions: this module is imported by the app before
the first frame.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from one_tui.tui.results import COLUMNS

REMOTE_KEYS = ("narrative", "qc", "extended_qc", "n_trials", "n_correct_trials", "performance",
               "users", "start_time", "end_time", "location", "procedures")


def sessions_table(df: Any) -> Any:
    """A pyarrow.Table with COLUMNS + eid (strings for text, date as date32) in ONE's order."""
    import pandas as pd
    import pyarrow as pa

    if df is None or len(df) == 0:
        names = [*COLUMNS, "eid"]
        types = [pa.date32(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.string(),
                 pa.string()]
        return pa.table({n: pa.array([], type=t) for n, t in zip(names, types, strict=True)})
    eids = [str(e) for e in df.index]
    cols: dict[str, Any] = {}
    for name in COLUMNS:
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        cols[name] = _column(name, col)
    cols["eid"] = pa.array(eids, type=pa.string())
    return pa.table(cols)


def _column(name: str, col: Any) -> Any:
    """One column as Arrow, vectorised (20,000+ rows must not loop in Python)."""
    import pandas as pd
    import pyarrow as pa

    if name == "date":
        days = pd.to_datetime(col, errors="coerce").to_numpy(dtype="datetime64[D]")
        return pa.array(days, type=pa.date32(), from_pandas=True)
    if name == "number":
        return pa.array(pd.to_numeric(col, errors="coerce").astype("Int64"), type=pa.int64())
    if col.dtype == object and col.map(lambda v: isinstance(v, list | tuple)).any():
        col = col.map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
    return pa.array(col.astype("string"), type=pa.string(), from_pandas=True)


def suggestions(df: Any) -> dict[str, list[str]]:
    """Distinct labs, subjects and projects of a sessions frame, for the filter suggesters."""
    if df is None or len(df) == 0:
        return {}
    out: dict[str, list[str]] = {}
    for key, column in (("lab", "lab"), ("subject", "subject")):
        if column in df.columns:
            out[key] = sorted({str(v) for v in df[column].dropna().unique()})
    if "projects" in df.columns:
        projects: set[str] = set()
        values = df["projects"].dropna()
        try:  # a few distinct values over many sessions: split each once
            values = values.unique()
        except TypeError:  # lists (unhashable): every row
            pass
        for value in values:
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            projects.update(p.strip() for p in items if p and str(p).strip())
        out["project"] = sorted(projects)
    return out


def split_rel_path(rel_path: str) -> tuple[str, str, str]:
    """(collection, revision, file name) of an ALF relative path."""
    parts = rel_path.split("/")
    name = parts[-1]
    revision = ""
    rest = parts[:-1]
    if rest and rest[-1].startswith("#") and rest[-1].endswith("#"):
        revision = rest.pop()[1:-1]
    return "/".join(rest), revision, name


def _records(df: Any) -> list[dict[str, Any]]:
    if df is None or len(df) == 0:
        return []
    out = []
    for rec in df.reset_index().to_dict("records"):
        collection, revision, name = split_rel_path(str(rec.get("rel_path", "")))
        qc = rec.get("qc")
        out.append({
            "id": str(rec.get("id", "")), "rel_path": rec.get("rel_path"), "name": name,
            "collection": collection, "revision": revision, "file_size": rec.get("file_size"),
            "qc": str(qc) if qc is not None else "NOT_SET", "exists": bool(rec.get("exists", True)),
        })
    return out


def _session_dict(one: Any, eid: str, row: dict[str, Any]) -> dict[str, Any]:
    try:
        info = one.get_details(eid)
    except Exception:  # noqa: BLE001 - the results row still describes the session
        return dict(row)
    if hasattr(info, "to_dict"):
        info = info.to_dict()
    return {**row, **dict(info)} if isinstance(info, dict) else dict(row)


def _insertions(one: Any, eid: str) -> list[dict[str, Any]]:
    try:
        found = one.eid2pid(eid, details=True)
    except Exception:  # noqa: BLE001 - no insertions table: say none
        return []
    if not found or found[0] is None:
        return []
    pids, names, records = found
    out = []
    for pid, name, rec in zip(pids, names, records or [{}] * len(pids), strict=False):
        out.append({"pid": str(pid), "name": name, "model": (rec or {}).get("model")})
    return out


def _remote(one: Any, eid: str) -> tuple[dict[str, Any] | None, str | None]:
    if getattr(one, "alyx", None) is None or one.offline:
        return None, None
    try:
        record = one.get_details(eid, full=True, query_type="remote")
    except Exception as exc:  # noqa: BLE001 - details stay useful without the remote part
        return None, f"Alyx record unavailable: {type(exc).__name__}: {exc}"
    record = dict(record or {})
    out = {k: record[k] for k in REMOTE_KEYS if k in record}
    if "performance" not in out and record.get("n_trials"):
        correct = record.get("n_correct_trials") or 0
        out["performance"] = round(100 * correct / record["n_trials"], 1)
    return out, None


def details(one: Any, eid: str, row: dict[str, Any]) -> Any:
    """Everything the details pane shows, as a DetailsReady message."""
    from one_tui.tui.messages import DetailsReady

    session = _session_dict(one, eid, row)
    datasets = one.list_datasets(eid, qc="CRITICAL", details=True)
    records = _records(datasets)
    disk = on_disk(getattr(one, "cache_dir", None), session, records)
    remote, remote_error = _remote(one, eid)
    return DetailsReady(eid=eid, session=session, datasets=records,
                        insertions=_insertions(one, eid), remote=remote,
                        remote_error=remote_error, disk=disk)


def on_disk(cache_dir: Any, session: dict[str, Any], records: list[dict[str, Any]]
            ) -> dict[str, Any] | None:
    """Mark each record ``on_disk`` (stat only these, in this worker) and total the session."""
    from one_tui.engine.local import ondisk
    if cache_dir is None or not session.get("subject") or session.get("date") is None:
        return None
    try:
        found, totals = ondisk.check_datasets(cache_dir, session, records)
        folder = Path(cache_dir) / ondisk.session_path(session)
    except (TypeError, ValueError, KeyError):  # a session record without ONE's parts
        return None
    for rec, presence in zip(records, found, strict=True):
        rec["on_disk"] = presence.present
    return {"folder": str(folder), "n_datasets": totals.n_datasets,
            "n_on_disk": totals.n_on_disk, "bytes_on_disk": totals.bytes_on_disk,
            "bytes_on_server": totals.bytes_on_server}


class ExportError(ValueError):
    """An export that would create folders or overwrite a file without being asked to."""


def current_umask() -> int:
    """The process umask, read without changing it where the system tells (Linux), else by
    setting and restoring it at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_table(table: Any, path: Path, fmt: str, overwrite: bool = False) -> int:
    """Write the results atomically (temp file + rename) as CSV or Parquet; return the rows.

    Only into a folder that exists (a typo must not create /nonexistent/dir), never over an
    existing file unless ``overwrite``; the file gets the user's umask (mkstemp's 0600 kept
    colleagues on a shared scratch folder from reading it)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path).expanduser().absolute()
    if not path.parent.is_dir():
        raise ExportError(f"no such folder: {path.parent} (nothing was created)")
    if path.is_dir():
        raise ExportError(f"{path} is a folder")
    if path.exists() and not overwrite:
        raise FileExistsError(str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return table.num_rows
