"""The table sets and databases a user picks from, as frozen values the app draws as they are.

A *table set* is what ONE's ``load_cache(tag=...)`` chooses: the full tables of a database
(``<cache_dir>/*.pqt``) or a release tag's (``<cache_dir>/<tag>/*.pqt``, whose metadata holds
``database_tags``). A *database* is one entry of ONE's ``~/.one`` (``.caches`` and its
``.<client_key>`` file). Vocabulary only: nothing here reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FULL", "TagInfo", "DatabaseInfo", "check_tag", "set_name"]

#: How the app and the CLI name the full tables (no tag).
FULL = "full"

#: Alyx routes ``cache/info/<tag>/`` with ``\w+`` only: another name can never have tables.
_TAG = re.compile(r"^\w+$")


def check_tag(tag: str) -> str:
    """``tag`` if it can name a tag folder and an Alyx route; ValueError otherwise (a ``..``
    or a ``/`` would put the tables outside the cache folder)."""
    if not isinstance(tag, str) or not _TAG.match(tag) or tag == FULL:
        raise ValueError(f"{tag!r} is not a release tag one-tui can use (letters, digits, _; "
                         "Alyx serves no tables for other names)")
    return tag


def set_name(tag: str | None) -> str:
    """The active set as a user reads it: ``full`` or the tag."""
    return tag or FULL


@dataclass(frozen=True)
class TagInfo:
    """One release tag as the tag picker lists it (``/tags`` plus ``cache/info/<tag>/``)."""

    name: str
    description: str = ""
    public: bool = False
    protected: bool = False
    #: Alyx's ``date_created`` of the tag's tables (None: Alyx has none or was not asked)
    date_created: str | None = None
    #: bytes of the tables as ``cache/info`` counts them, and their rows
    size: int | None = None
    sessions: int | None = None
    datasets: int | None = None
    min_api_version: str | None = None
    #: where the tag's cache.zip is (None: Alyx would serve the *full* tables, ONE's trap D)
    location: str | None = None
    #: ``date_created`` of the tag's tables in ``<cache_dir>/<tag>/`` (None: not on this disk)
    on_disk: str | None = None
    #: why Alyx gave no tables for it (a 404, a 500 for a tag without tables), one line
    problem: str | None = None

    @property
    def disk_is_current(self) -> bool:
        """The tables on disk are Alyx's latest (as the download rule compares them)."""
        return bool(self.on_disk and self.date_created and self.on_disk >= self.date_created)


@dataclass(frozen=True)
class DatabaseInfo:
    """One database of ONE's ``~/.one`` as the database picker lists it."""

    base_url: str
    client_key: str
    cache_dir: Path
    username: str | None
    is_default: bool
    token_saved: bool
    #: ``date_created`` of its full tables on disk (None: none there)
    tables_created: str | None
    #: bytes of its cache folder on disk (tables, REST cache and data files)
    size: int
    #: the tags whose tables are in its folder
    tags: tuple[str, ...] = ()
    #: offered, not in ~/.one yet (ONE's public database before its setup)
    suggested: bool = False
    #: a settings file that could not be read, one line
    problem: str | None = None


@dataclass(frozen=True)
class FreezeReport:
    """What ``freeze`` wrote: a ONE cache folder for ``ONE(mode='local', cache_dir=...)``."""

    folder: Path
    sessions: int
    datasets: int
    #: the table set the tables came from (None: the full tables)
    tag: str | None
    #: files put in the folder: hard-linked, copied, and their bytes
    linked: int = 0
    copied: int = 0
    bytes: int = 0
    #: ``<session path>/<rel_path>`` of each dataset whose file is not on this disk
    missing: tuple[str, ...] = ()
    #: files on this disk whose size or md5 is not Alyx's (not put in the folder)
    mismatched: tuple[str, ...] = ()

    @property
    def python_line(self) -> str:
        """The line a batch job runs on a node with no network (ONE-api 2.x and 3.x)."""
        return f"from one.api import ONE; one = ONE(mode='local', cache_dir={str(self.folder)!r})"
