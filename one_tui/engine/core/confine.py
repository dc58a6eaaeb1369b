"""Paths built from data stay inside the folder they are built in.

A ``rel_path``, a subject or a lab comes from a table someone else wrote or from Alyx: an
absolute ``/etc/passwd`` or a ``../../`` in one made the on-disk check stat, and report, files
outside the cache folder. Every path one-tui builds from such values goes through
:func:`confined`. The check is on the text (no ``resolve()``): a symlink the user put inside the
cache folder (data on another disk) is theirs to follow, as ONE-api follows it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["OutsideFolder", "confined"]


class OutsideFolder(ValueError):
    """A part of a path from data would leave the folder (absolute, ``..``, a NUL)."""


def confined(root: Path, *parts: str) -> Path:
    """``root`` joined with ``parts`` (each may hold ``/``); OutsideFolder when a part is
    absolute (POSIX or Windows), climbs with ``..``, or holds a NUL."""
    path = root
    for part in parts:
        text = str(part)
        posix = PurePosixPath(text)
        if ("\x00" in text or posix.is_absolute() or ".." in posix.parts
                or PureWindowsPath(text).anchor):
            raise OutsideFolder(f"{text!r} would leave {root}")
        path = path / posix
    return path
