"""Release-tag table sets: where a tag's tables live, which set a folder holds, and the checks
that keep one set from ever being written over another.

ONE-api's ``load_cache(tag=...)`` has traps (../shared/reference/one-downloads.md §2.3): a new
process downloads identical tag tables again (A); ONE 3.6.1 ``load_cache(tables_dir=<tag
folder>)`` and ONE 2.11.2 in auto mode on a tag folder write the *full* tables into it (B, C);
an Alyx that gives no ``location`` for a tag serves the untagged ``cache.zip`` (D). one-tui's
rule, in one place: a set is identified by the ``database_tags`` its tables carry; Alyx's
``cache/info`` answer and the downloaded tables must both carry the active set's tags before
anything is replaced, whatever the mode, refresh key or expiry says. The last set used on each
database is remembered in one-tui's own state file (never in ONE's ``~/.one``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from one_tui.engine.core.atomic import atomic_write
from one_tui.engine.core.errors import AlyxError, HTTPError
from one_tui.engine.core.freshness import parse_created
from one_tui.engine.core.sets import TagInfo, check_tag
from one_tui.engine.core.spec import one_line
from one_tui.engine.local.fileformat import InvalidTableError, read_metadata

if TYPE_CHECKING:
    from one_tui.engine.remote.client import AlyxClient

__all__ = ["WrongTableSet", "tags_on_disk", "tag_folder", "disk_tags", "disk_created", "check_info",
           "check_files", "state_path", "remembered_set", "remember_set", "describe_tags"]

#: The tables whose metadata says which set a folder holds (``one_cache`` tags both).
_MARKED = ("sessions", "datasets")


class WrongTableSet(InvalidTableError):
    """Alyx offered (or sent) the tables of another set than the active one: nothing was
    replaced. An InvalidTableError, so a table job treats it as bad tables and keeps the disk."""


def tag_folder(cache_dir: Path, tag: str | None) -> Path:
    """The tables folder of a set: ``<cache_dir>`` for the full tables, ``<cache_dir>/<tag>``
    (ONE's ``load_cache(tag=...)`` destination) for a tag."""
    return Path(cache_dir) if tag is None else Path(cache_dir) / check_tag(tag)


def _tags_of(meta: dict[str, Any]) -> tuple[str, ...]:
    tags = meta.get("database_tags") or ()
    if isinstance(tags, str):
        tags = (tags,)
    return tuple(sorted({str(t) for t in tags if t}))


def disk_tags(folder: Path) -> tuple[str, ...] | None:
    """The ``database_tags`` of the tables in ``folder`` (``()``: full tables; None: no
    readable tables there). Reads only the files' footers."""
    found: set[str] = set()
    any_table = False
    for name in _MARKED:
        try:
            meta, _ = read_metadata(folder / f"{name}.pqt")
        except (InvalidTableError, OSError):
            continue
        any_table = True
        found.update(_tags_of(meta))
    return tuple(sorted(found)) if any_table else None


def disk_created(folder: Path) -> str | None:
    """The oldest ``date_created`` of the sessions and datasets tables in ``folder``, as written."""
    times = []
    for name in _MARKED:
        try:
            meta, _ = read_metadata(folder / f"{name}.pqt")
        except (InvalidTableError, OSError):
            continue
        if (when := parse_created(meta.get("date_created"))) is not None:
            times.append((when, str(meta["date_created"])))
    return min(times)[1] if times else None


def _expected(tag: str | None) -> tuple[str, ...]:
    return (tag,) if tag else ()


def _named(tags: Iterable[str]) -> str:
    return ", ".join(tags) or "none (the full tables)"


def check_info(info: dict[str, Any], tag: str | None) -> None:
    """Refuse a ``cache/info`` answer that is not the active set's (traps B, C, D): a tag's
    answer must name the tag and give the zip's ``location`` (without one, ONE downloads the
    untagged ``cache.zip``); the full tables' answer must carry no tag."""
    tags = _tags_of(info)
    if tags != _expected(tag):
        raise WrongTableSet(f"Alyx's cache/info{'/' + tag if tag else ''} describes the tables "
                            f"of tag {_named(tags)}, not of {tag or 'the full database'}: "
                            "nothing downloaded")
    if tag and not info.get("location"):
        raise WrongTableSet(f"Alyx gives no location for tag {tag}'s tables: it would send the "
                            "full tables instead (ONE's trap D); nothing downloaded")


def check_files(files: Iterable[Path], tag: str | None) -> None:
    """Refuse downloaded tables whose ``database_tags`` are not the active set's, before any of
    them replaces a file (the guard behind :func:`check_info`: a server may lie)."""
    for path in files:
        if path.suffix != ".pqt" or path.stem not in _MARKED:
            continue
        meta, _ = read_metadata(path)
        tags = _tags_of(meta)
        if tags != _expected(tag):
            raise WrongTableSet(f"the downloaded {path.name} holds the tables of tag "
                                f"{_named(tags)}, not of {tag or 'the full database'}: "
                                "nothing replaced")


# -- what one-tui remembers (its own file, never ~/.one) ------------------------------------------
def state_path() -> Path:
    """one-tui's own state file: ``$ONE_TUI_STATE``, else ``tables.json`` beside the app's
    config file (``$ONE_TUI_CONFIG``'s folder or ``<user config dir>/one-tui``)."""
    env = os.environ.get("ONE_TUI_STATE")
    if env:
        return Path(env).expanduser()
    config = os.environ.get("ONE_TUI_CONFIG")
    if config:
        return Path(config).expanduser().parent / "tables.json"
    from platformdirs import user_config_path

    return user_config_path("one-tui") / "tables.json"


def _read_state() -> dict[str, Any]:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_set(base_url: str | None) -> str | None:
    """The tag last used on ``base_url`` (None: the full tables, or never chosen)."""
    sets = _read_state().get("table_sets")
    tag = sets.get(base_url or "") if isinstance(sets, dict) else None
    try:
        return check_tag(tag) if tag else None
    except ValueError:
        return None


def remember_set(base_url: str | None, tag: str | None) -> None:
    """Remember ``tag`` (None: full) as the set of ``base_url``; a failure to write is silent
    (the choice is a convenience, the tables are not affected)."""
    data = _read_state()
    sets = data.get("table_sets")
    sets = sets if isinstance(sets, dict) else {}
    sets[base_url or ""] = tag
    data["table_sets"] = sets
    path = state_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        def write(tmp: Path) -> None:
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")

        atomic_write(path, write)
    except OSError:
        pass


# -- the tags of a database -----------------------------------------------------------------------
def describe_tags(client: AlyxClient, cache_dir: Path) -> list[TagInfo]:
    """Every tag of ``/tags`` with its ``cache/info/<tag>/`` (asked now, never from the REST
    cache) and the date of its tables on this disk. A tag Alyx has no tables for says why."""
    records = client.rest("tags", "list")
    out = []
    for rec in records if isinstance(records, list) else []:
        name = str(rec.get("name") or "")
        info: dict[str, Any] = {}
        problem = None
        try:
            check_tag(name)
            info = client.get(f"cache/info/{name}/", expires=True, clobber=True)
        except ValueError:
            problem = "Alyx routes no tables for this name"
        except HTTPError as exc:
            problem = ("Alyx has no tables for this tag" if exc.status_code in (404, 500)
                       else f"cache/info: HTTP {exc.status_code}")
        except AlyxError as exc:
            problem = one_line(exc)
        raw_tables = info.get("tables")
        tables: dict[str, Any] = raw_tables if isinstance(raw_tables, dict) else {}
        sizes = [t.get("size") for t in tables.values() if isinstance(t, dict)]

        def nrecs(table: str, tables: dict[str, Any] = tables) -> int | None:
            entry = tables.get(table)
            value = entry.get("nrecs") if isinstance(entry, dict) else None
            return value if isinstance(value, int) else None

        folder = Path(cache_dir) / name if problem != "Alyx routes no tables for this name" \
            else None
        on_disk = None
        if folder is not None and disk_tags(folder) == (name,):
            on_disk = disk_created(folder)
        out.append(TagInfo(
            name=name, description=str(rec.get("description") or ""),
            public=bool(rec.get("public")), protected=bool(rec.get("protected")),
            date_created=str(info["date_created"]) if info.get("date_created") else None,
            size=sum(s for s in sizes if isinstance(s, int)) if sizes else None,
            sessions=nrecs("sessions"), datasets=nrecs("datasets"),
            min_api_version=str(info["min_api_version"]) if info.get("min_api_version")
            else None,
            location=str(info["location"]) if info.get("location") else None,
            on_disk=on_disk, problem=problem))
    return out


def tags_on_disk(cache_dir: Path) -> list[TagInfo]:
    """The tags whose tables are in ``<cache_dir>/<tag>/`` (offline: what can be switched to
    without Alyx)."""
    out = []
    try:
        folders = sorted(p for p in Path(cache_dir).iterdir() if p.is_dir())
    except OSError:
        return []
    for folder in folders:
        if disk_tags(folder) == (folder.name,):
            out.append(TagInfo(name=folder.name, on_disk=disk_created(folder),
                               problem="offline: Alyx not asked"))
    return out
