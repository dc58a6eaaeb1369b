"""Issue 16, class 1: text from a shared table or an Alyx record never drives the terminal.

A table written by someone else can hold a complete OSC 52 sequence (it would put text in the
user's clipboard: the README tells tmux users to allow that), an OSC 0 (retitles the window) or
a CSI (clears the screen). Whatever one-tui prints of it, the control characters are shown as
visible text (``\\x1b``), never sent as they are; the JSON output escapes them by its nature.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: C0/C1 controls but the line feed: what must never reach a terminal from data
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"  # base64 of "rm -rf ~"
EVIL = {
    "subject": f"KS{OSC52}001",
    "lab": "lab\x1b]0;owned\x07",
    "task_protocol": "_iblrig_tasks_\x1b[2J\x1b[Hbiased\u202e6.0",
    "projects": "proj\x9b31mred",
}


def hostile_folder(folder: Path, n: int = 6, seed: int = 7) -> Any:
    """A cache folder whose first session carries escape sequences in its text fields."""
    from one_tui.demo.synth import generate

    db = generate(n_sessions=n, seed=seed)  # our own copy: the shared ones stay clean
    first = db.sessions.index[0]
    for column, value in EVIL.items():
        if column in db.sessions.columns:
            db.sessions[column] = db.sessions[column].astype(object)
            db.sessions.at[first, column] = value
    db.write_tables(folder)
    return db


def test_the_one_rule_leaves_plain_text_alone_and_shows_controls() -> None:
    from one_tui.engine.core.spec import inert, shown

    assert inert("KS005 · Mainen lab, été") == "KS005 · Mainen lab, été"
    assert inert(OSC52) == "\\x1b]52;c;cm0gLXJmIH4K\\x07"
    assert inert("a\nb") == "a\\nb"
    assert inert("a\nb\tc", lines=True) == "a\nb\tc"
    assert inert("\u202eabc") == "\\u202eabc"  # a bidi override cannot reorder what follows
    assert not RAW_CONTROL.search(shown(OSC52 * 40))


def test_search_plain_output_shows_control_characters_visibly(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "shared"
    hostile_folder(folder)
    proc = subprocess.run([sys.executable, "-m", "one_tui", "search", "--cache-dir", str(folder)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        text = stream.decode("utf-8")
        assert not RAW_CONTROL.search(text), text
        assert "\u202e" not in text
    out = proc.stdout.decode("utf-8")
    assert "KS\\x1b]52;c;cm0gLXJmIH4K\\x07001" in out  # visible, for the user to notice


def test_search_json_output_keeps_the_value_escaped_by_json(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "shared"
    hostile_folder(folder)
    proc = subprocess.run([sys.executable, "-m", "one_tui", "search", "--cache-dir", str(folder),
                           "--json"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not RAW_CONTROL.search(proc.stdout.decode("utf-8"))
    subjects = {r["subject"] for r in json.loads(proc.stdout)}
    assert EVIL["subject"] in subjects  # the data itself, unchanged, for a program to read


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_csv_export_neutralises_spreadsheet_formulas(tmp_path: Path, cell: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from one_tui.tui.export import write_table

    table = pa.table({"subject": [cell, "KS005"], "number": [1, -2]})
    write_table(table, tmp_path / "out.csv", "csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["subject"] == "'" + cell  # read as text by a spreadsheet, not run
    assert rows[1]["subject"] == "KS005"
    assert rows[1]["number"] == "-2"  # numbers stay numbers
    write_table(table, tmp_path / "out.pqt", "parquet")
    assert pq.read_table(tmp_path / "out.pqt").column("subject")[0].as_py() == cell
