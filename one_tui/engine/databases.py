"""Every database of ONE's ``~/.one`` as the database picker lists it.

ONE keeps several databases side by side: ``.caches`` maps each ``client_key`` to its cache
folder, and each has a ``.<client_key>`` settings file (URL, login, token). one-tui opens one
per engine; this module only reads those files and the folders' tables, so the picker can say
which database is where, how old its tables are, how much it holds and whether a token is
saved. When nothing is set up, ONE's public database is offered as ONE's own setup would
create it (``ONE(base_url=PUBLIC_URL, username=PUBLIC_USER, password=PUBLIC_PASSWORD)``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from one_tui.engine import params
from one_tui.engine.core.sets import DatabaseInfo
from one_tui.engine.tablesets import disk_created, disk_tags

__all__ = ["PUBLIC_URL", "PUBLIC_USER", "PUBLIC_PASSWORD", "list_databases", "folder_size"]

#: ONE-api's public defaults (``one.params``: the openalyx login everyone may use)
PUBLIC_URL = "https://openalyx.internationalbrainlab.org"
PUBLIC_USER = "intbrainlab"
PUBLIC_PASSWORD = "international"  # noqa: S105 - ONE's published public password


def folder_size(folder: Path, cancel: threading.Event | None = None) -> int:
    """Bytes under ``folder`` (files only, links not followed); stops early on ``cancel``."""
    total = 0
    for root, dirs, files in os.walk(folder):
        if cancel is not None and cancel.is_set():
            break
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += st.st_size
    return total


def _keys() -> list[str]:
    """Client keys from ``.caches`` first (ONE's order), then settings files it lacks."""
    keys = [str(k) for k in params.read_caches()["CLIENT_MAP"]]
    folder = params.params_dir()
    try:
        names = sorted(p.name[1:] for p in folder.iterdir()
                       if p.name.startswith(".") and p.is_file() and p.name != ".caches")
    except OSError:
        names = []
    return keys + [n for n in names if n not in keys]


def _info(key: str, cancel: threading.Event | None) -> DatabaseInfo | None:
    try:
        settings = params.get_settings(key)
    except params.ParamsError as exc:
        return DatabaseInfo(key, key, params.default_cache_dir(), None, False, False, None, 0,
                            problem=str(exc))
    if settings is None:
        return None
    folder = settings.cache_dir
    tags: tuple[str, ...] = ()
    with contextlib.suppress(OSError):
        tags = tuple(sorted(p.name for p in folder.iterdir()
                            if p.is_dir() and disk_tags(p) == (p.name,)))
    return DatabaseInfo(
        base_url=settings.base_url, client_key=settings.client_key, cache_dir=folder,
        username=settings.username, is_default=settings.is_default,
        token_saved=bool(settings.tokens), tables_created=disk_created(folder),
        size=folder_size(folder, cancel) if folder.is_dir() else 0, tags=tags)


def list_databases(cancel: threading.Event | None = None) -> list[DatabaseInfo]:
    """Every database of ``~/.one``; ONE's public one offered (``suggested``) when none is."""
    out = [info for key in _keys() if (info := _info(key, cancel)) is not None]
    if not any(not d.problem for d in out):
        folder = params.default_cache_dir(PUBLIC_URL)
        out.append(DatabaseInfo(
            base_url=PUBLIC_URL, client_key=params.client_key(PUBLIC_URL), cache_dir=folder,
            username=PUBLIC_USER, is_default=False, token_saved=False,
            tables_created=disk_created(folder), size=0, suggested=True))
    return out
