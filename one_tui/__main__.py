"""`python -m one_tui` and the `one-tui` script: a ctrl+c even while modules are still being
imported ends with exit 130 and no traceback (the import of the command line is inside)."""

from __future__ import annotations


def entry() -> None:
    """Run the command line; exit with its code (``one_tui.exits.Exit``)."""
    try:
        from one_tui.cli import main

        code = main()
    except KeyboardInterrupt:
        code = 130  # Exit.INTERRUPTED, not imported: the interrupt may be inside that import
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
