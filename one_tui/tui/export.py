"""Writing the results to a file: the rules an export keeps, apart from any screen.

Only into a folder that exists (a typo must not create /nonexistent/dir), never over an existing
file unless asked, whole or not at all (``atomic_write``, the engine's one atomic writer), with
the user's umask (a temp file's 0600 kept colleagues on a shared scratch folder from reading it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from one_tui.engine.core.atomic import atomic_write

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = {".csv": "csv", ".pqt": "parquet", ".parquet": "parquet"}

#: What makes a spreadsheet read a CSV cell as a formula (OWASP's list): =, +, -, @ and the tab
#: and carriage return some of them skip first.
FORMULA_START = r"^([=+\-@\t\r])"


class ExportError(ValueError):
    """An export that would create folders or overwrite a folder."""


def export_format(path: str) -> str | None:
    """'csv' or 'parquet' from the extension, None if it is neither."""
    return FORMATS.get(Path(path).suffix.lower())


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


def inert_formulas(table: pa.Table) -> pa.Table:
    """The table with each text cell that a spreadsheet would run as a formula (a subject
    ``=HYPERLINK(...)`` in a shared table) prefixed by ``'``, which makes it text, as OWASP
    advises. Only text columns: numbers (``-2``) stay numbers. Parquet is written unchanged:
    programs, not spreadsheets, read it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = pc.replace_substring_regex(table.column(i), pattern=FORMULA_START,
                                                replacement="'\\1")
            table = table.set_column(i, field, column)
    return table


def write_table(table: pa.Table, path: Path, fmt: str, overwrite: bool = False) -> int:
    """Write the results as CSV or Parquet; return the rows. FileExistsError when the file
    exists and ``overwrite`` is not set; ExportError when the folder is missing."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path).expanduser().absolute()
    if not path.parent.is_dir():
        raise ExportError(f"no such folder: {path.parent} (nothing was created)")
    if path.is_dir():
        raise ExportError(f"{path} is a folder")
    if path.exists() and not overwrite:
        raise FileExistsError(str(path))

    def write(tmp: Path) -> None:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(inert_formulas(table), tmp)

    atomic_write(path, write, mode=0o666 & ~current_umask())
    return int(table.num_rows)
