"""What a command prints: every line made inert, and output that cannot be written an error.

Shared by `cli.py` and the sub-commands in `one_tui/commands/`: data printed from a table or
an Alyx record goes through ``spec.inert`` (an escape sequence in a subject is shown as
``\\x1b``, never run by the terminal), and a stdout that is closed or full raises
:class:`OutputLost` (exit 3, ``one_tui.exits``) instead of dropping the results with exit 0.
A reader that went away (``| head``) is a ``BrokenPipeError`` for ``cli.main``. Standard
library only: ``--help`` stays cheap.
"""

from __future__ import annotations

import sys

from one_tui.engine.core.spec import inert

__all__ = ["OutputLost", "out", "say"]


class OutputLost(Exception):
    """stdout is closed or full: the results would be lost (a script must not read exit 0)."""


def say(text: str) -> None:
    """A line for the user on stderr, made inert."""
    print(inert(text), file=sys.stderr)


def out(text: str) -> None:
    """Results on stdout, made inert line by line (OutputLost when they cannot be written)."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): print() would drop the lines
        raise OutputLost("stdout is closed: the results have nowhere to go")
    try:
        print("\n".join(inert(line) for line in text.split("\n")))
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputLost(f"cannot write the results to stdout: {exc.strerror or exc}") from None
