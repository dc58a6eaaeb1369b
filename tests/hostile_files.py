"""Datasets tables with one bad row or one odd column, as someone else's program may write them
(issue 16, class 3): shared by the one-tui tests and the ONE-api comparisons."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from one_tui.demo.synth import generate

#: name -> what is wrong in the datasets table ``write_hostile`` writes
HOSTILE = {
    "null-eid": "one row has no eid (row 3)",
    "unknown-qc": "one row's qc is a value no QC level has (row 5)",
    "text-size": "file_size is stored as text (one of them not a number)",
    "binary-ids": "the id column is stored as binary (each id's 16 raw bytes)",
}


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def write_hostile(folder: Path, kind: str) -> Path:
    """Write a synthetic folder (30 sessions) whose datasets.pqt is broken as ``kind`` says;
    the file keeps the schema metadata (``one_metadata``, ``pandas``) of the good table."""
    generate(n_sessions=30, seed=5).write_tables(folder)
    path = folder / "datasets.pqt"
    table = pq.read_table(path)
    meta = table.schema.metadata
    if kind == "null-eid":
        eids = table.column("eid").to_pylist()
        eids[3] = None
        table = _set(table, "eid", pa.array(eids, type=pa.string()))
    elif kind == "unknown-qc":
        qc = table.column("qc").combine_chunks()  # an ordered dictionary, as ONE writes it
        levels = [*qc.dictionary.to_pylist(), "BOGUS"]
        indices = qc.indices.to_pylist()
        indices[5] = len(levels) - 1
        table = _set(table, "qc", pa.DictionaryArray.from_arrays(
            pa.array(indices, type=qc.indices.type), levels, ordered=True))
    elif kind == "text-size":
        sizes = [None if v is None else str(v) for v in table.column("file_size").to_pylist()]
        sizes[7] = "big"  # and one that is not a number
        table = _set(table, "file_size", pa.array(sizes, type=pa.string()))
    elif kind == "binary-ids":
        ids = [uuid.UUID(v).bytes for v in table.column("id").to_pylist()]
        table = _set(table, "id", pa.array(ids, type=pa.binary()))
    else:
        raise ValueError(kind)
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path
