"""The files Alyx's ``one_cache`` command writes: the parquet tables, cache_info.json, cache.zip.

Exists so that the byte layout a ONE client downloads (table schema and metadata as pandas 2
writes them, the zip's member order, QC.json, cache_info's sizes) changes in one place, apart
from the synthetic content (``demo/synth.py``), which calls these with its frames.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from one_tui.demo.catalogue import MIN_API_VERSION
from one_tui.engine.local.cache import save_table

__all__ = ["table_metadata", "write_tables", "cache_info", "cache_zip", "qc_records"]

_SESSIONS_ORDER = ("lab", "subject", "date", "number", "task_protocol", "projects")
_DATASETS_ORDER = ("file_size", "hash", "default_revision", "qc", "exists", "rel_path")


def table_metadata(when: dt.datetime, origin: str) -> dict[str, Any]:
    """The ``one_metadata`` Alyx's one_cache writes into each table."""
    return {"date_created": when.strftime("%Y-%m-%d %H:%M"), "origin": origin,
            "min_api_version": MIN_API_VERSION}


def write_tables(folder: Path, sessions: pd.DataFrame, datasets: pd.DataFrame,
                 meta: dict[str, Any]) -> list[Path]:
    """Write sessions.pqt, datasets.pqt (ONE's format) and cache_info.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "sessions.pqt", folder / "datasets.pqt"]
    save_table(sessions, paths[0], meta)
    save_table(datasets, paths[1], meta)
    info = cache_info(meta, len(sessions), len(datasets),
                      sizes={p.stem: p.stat().st_size for p in paths})
    info_path = folder / "cache_info.json"
    info_path.write_text(json.dumps(info, indent=1))
    return [*paths, info_path]


def cache_info(meta: dict[str, Any], n_sessions: int, n_datasets: int,
               sizes: dict[str, int] | None = None) -> dict[str, Any]:
    """cache_info.json as one_cache writes it (and /cache/info/ returns)."""
    sizes = sizes or {}
    return {
        **meta,
        "tables": {
            "sessions": {"nrecs": n_sessions, "size": sizes.get("sessions", 0)},
            "datasets": {"nrecs": n_datasets, "size": sizes.get("datasets", 0)},
        },
    }


def cache_zip(sessions: pd.DataFrame, datasets: pd.DataFrame, qc: list[dict[str, Any]],
              meta: dict[str, Any]) -> bytes:
    """cache.zip as Alyx's ``one_cache --compress --qc`` builds it: sessions.pqt,
    datasets.pqt, QC.json, cache_info.json, in that order.

    The tables are written as one_cache writes them (``pa.Table.from_pandas`` of frames
    indexed by id: Alyx's column order, the index columns last, pandas metadata as pandas
    2 writes it, plus ``one_metadata``); cache_info's ``size`` is each table's parquet
    footer size, as one_cache reports it.
    """
    tables = {"sessions": _alyx_table(sessions, _SESSIONS_ORDER, meta),
              "datasets": _alyx_table(datasets, _DATASETS_ORDER, meta)}
    out = io.BytesIO()
    info: dict[str, Any] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, table in tables.items():
            buf = io.BytesIO()
            pq.write_table(table, buf)
            blob = buf.getvalue()
            zf.writestr(f"{name}.pqt", blob)
            footer = pq.read_metadata(io.BytesIO(blob))
            info[name] = {"nrecs": footer.num_rows, "size": footer.serialized_size}
        zf.writestr("QC.json", json.dumps(qc))
        zf.writestr("cache_info.json", json.dumps({**meta, "tables": info}, indent=1))
    return out.getvalue()


def qc_records(session_extra: pd.DataFrame, insertions: pd.DataFrame) -> list[dict[str, Any]]:
    """QC.json of one_cache --qc: each session's QC and extended QC, with its insertions'
    (those whose json has an extended_qc) under ``probe_insertions``."""
    ex = session_extra
    out = {eid: {"eid": eid, "qc_outcome": str(qc), "extended_qc": ext}
           for eid, qc, ext in zip(ex.index, ex["qc"], ex["extended_qc"], strict=True)}
    for (eid, pid), name, j in zip(insertions.index, insertions["name"], insertions["json"],
                                   strict=True):
        if "extended_qc" in (j or {}):
            out[eid].setdefault("probe_insertions", []).append({
                "pid": pid, "probe_name": name, "qc_outcome": j.get("qc", "NOT_SET"),
                "extended_qc": j["extended_qc"]})
    return list(out.values())


def _alyx_table(df: pd.DataFrame, columns: tuple[str, ...], meta: dict[str, Any]) -> pa.Table:
    """A frame as Alyx's one_cache turns it into an Arrow table (with pandas 2's types)."""
    table = pa.Table.from_pandas(df[list(columns)])
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_dictionary(t) and pa.types.is_large_string(t.value_type):
            t = pa.dictionary(t.index_type, pa.string(), t.ordered)
        fields.append(pa.field(f.name, t))
    pandas_meta = json.loads(table.schema.metadata[b"pandas"])
    for col in pandas_meta["columns"]:  # pandas 3 says "str" where pandas 2 (Alyx) says object
        if col["pandas_type"] == "unicode":
            col["numpy_type"] = "object"
    table = table.cast(pa.schema(fields))
    return table.replace_schema_metadata({"one_metadata": json.dumps(meta).encode(),
                                          "pandas": json.dumps(pandas_meta).encode()})
