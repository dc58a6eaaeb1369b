"""The exit codes of every `one-tui` command: one table, kept.

Scripts on cluster nodes branch on these numbers, so they are data in one place: the commands
return them, ``one-tui --help`` prints :func:`help_table`, the README's table is checked against
it (tests/test_cli_unix.py). Standard library only: ``--help`` stays cheap. A new command uses
these codes (``Exit.ERROR`` for any failure told in one line) rather than new numbers.
"""

from __future__ import annotations

import signal
from enum import IntEnum

__all__ = ["Exit", "help_table"]


class Exit(IntEnum):
    """An exit code and what it means to a script (``meaning``)."""

    meaning: str

    def __new__(cls, value: int, meaning: str) -> Exit:
        member = int.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    OK = 0, "done (cache-info: the tables are fresh)"
    EXPIRED = 1, ("cache-info: the tables are expired; freeze: written, files missing; "
                  "download/check: a dataset failed, is missing or damaged (each named)")
    USAGE = 2, "a mistyped command line (argparse); cache-info: no tables in the folder"
    ERROR = 3, ("failed (the reason in one line on stderr), results not written included; "
                "download: settings or connection (401, no data server, nothing matches)")
    NO_FOLDER = 4, "the cache folder (--cache-dir or ~/.one's) does not exist; none is created"
    NOT_REMOTE = 5, "search --mode remote: Alyx unreachable or login refused (local rows)"
    INTERRUPTED = 130, "interrupted (ctrl+c)"
    BROKEN_PIPE = 128 + signal.SIGPIPE, "the reader went away (`head -1`): the rest is not printed"



def help_table() -> str:
    """The table as ``--help`` prints it (an argparse epilog, kept as written)."""
    rows = "\n".join(f"  {int(code):>3}  {code.meaning}" for code in Exit)
    return f"exit codes:\n{rows}"
