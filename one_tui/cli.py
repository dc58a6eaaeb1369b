"""The `one-tui` command: the app, the demo, and two script-friendly commands.

Parsing stays cheap (argparse only): pandas, pyarrow, httpx and Textual are imported by the
sub-command that needs them, so `one-tui --help` answers at once on a slow login node.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine is imported by the sub-commands that need it
    from one_tui.engine import EngineService, EngineState
    from one_tui.engine.params import Place

from one_tui.console import OutputLost, out, say  # stdlib only: --help stays cheap
from one_tui.engine.core.spec import inert, one_line
from one_tui.engine.core.types import MODES
from one_tui.exits import Exit, help_table

# The exit codes (one table: one_tui/exits.py), by the names the commands used before it.
EXIT_FRESH, EXIT_EXPIRED, EXIT_NO_TABLES = Exit.OK, Exit.EXPIRED, Exit.USAGE
EXIT_ERROR, EXIT_NO_FOLDER = Exit.ERROR, Exit.NO_FOLDER

# ONE-api reads no password from the environment (only ALYX_PWD in ~/.one's params file), so
# scripts get a variable of our own; a password is never taken on the command line.
PASSWORD_ENV = "ONE_TUI_PASSWORD"
TAG_HELP = "release tag whose tables to use (<cache-dir>/<tag>), or 'full'"


class NoSuchFolder(Exception):
    """--cache-dir (or ~/.one for cache-info) names a folder that does not exist."""


def _port(text: str) -> int:
    """A TCP port number, or argparse's one-line usage error."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0-65535)")
    return port


def _add_app_flags(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """Flags of the app; on a sub-command they are suppressed so they don't reset the main ones."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--base-url", default=default, help="Alyx URL (default: from ~/.one)")
    parser.add_argument("--cache-dir", default=default, help="ONE cache folder")
    parser.add_argument("--mode", choices=MODES, default=default, help="ONE mode (default auto)")
    parser.add_argument("--username", default=default, help="Alyx user name")
    parser.add_argument("--tag", default=default, help=TAG_HELP + " (default: the last used)")
    parser.add_argument(
        "--no-mouse", action="store_true", default=default, help="leave the mouse to the terminal"
    )
    parser.add_argument("--theme", default=default, help="Textual theme, e.g. ansi-dark")
    parser.add_argument(
        "--low-bandwidth",
        action="store_true",
        default=default,
        help="no blinking cursor, no spinners or animations (slow SSH links)",
    )


def _add_search_terms(parser: argparse.ArgumentParser) -> None:
    terms = parser.add_argument_group("search terms (ONE's names; text terms are regexes locally)")
    terms.add_argument("--lab", "--laboratory", dest="laboratory", action="append")
    terms.add_argument("--subject", action="append")
    terms.add_argument("--date", help="one day, YYYY-MM-DD")
    terms.add_argument("--date-range", nargs=2, metavar=("FROM", "TO"), help="use '' for open")
    terms.add_argument("--number", action="append")
    terms.add_argument("--projects", action="append")
    terms.add_argument("--task-protocol", action="append")
    terms.add_argument("--dataset", action="append", help="partial match on rel_path (ONE 2.x)")
    terms.add_argument("--datasets", action="append",
                       help="exact file names, comma-separated as in the app, all required")
    terms.add_argument("--dataset-qc-lte", help="QC name or value, e.g. WARNING or 30")
    terms.add_argument("--django", help="raw Alyx filter (remote only): field__lookup,value")
    alyx = parser.add_argument_group(
        "Alyx-only terms (as the app's Alyx-only filters: the search goes to Alyx in any mode)")
    alyx.add_argument("--qc", help="session QC, a name or value, e.g. PASS or 10")
    alyx.add_argument("--performance-gte", type=float, metavar="PCT")
    alyx.add_argument("--performance-lte", type=float, metavar="PCT")
    alyx.add_argument("--atlas-acronym", help="brain region, e.g. VISp")
    alyx.add_argument("--histology", action="store_true", help="sessions with histology done")
    alyx.add_argument("--narrative", help="text the session's narrative contains (any case)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="one-tui",
        description="Browse ONE sessions, datasets and cache freshness in the terminal.",
        epilog=help_table(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from one_tui import __version__

    parser.add_argument("--version", action="version", version=f"one-tui {__version__}")
    _add_app_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="open the app on a demo Alyx served on loopback")
    _add_app_flags(demo, suppress=True)
    demo.add_argument("--sessions", type=int, default=300, help="size of the demo database")
    demo.add_argument("--seed", type=int, default=0)

    server = sub.add_parser("demo-server", help="serve the demo Alyx on loopback (no app)")
    server.add_argument("--port", type=_port, default=8765)
    server.add_argument("--sessions", type=int, default=300)
    server.add_argument("--seed", type=int, default=0)

    search = sub.add_parser(
        "search", help="search sessions and print them (for scripts)",
        epilog=f"Without --cache-dir / --base-url, ONE's default database in ~/.one is used, as "
               f"in the app. A password is asked on a terminal; scripts can set {PASSWORD_ENV}. "
               f"Exit 4: --cache-dir does not exist; 5: --mode remote but Alyx could not be "
               f"used (the rows printed are the local tables').")
    search.add_argument("--cache-dir", help="ONE cache folder (default: from ~/.one)")
    search.add_argument("--mode", choices=MODES, default="local")
    search.add_argument("--base-url", help="Alyx URL (default: from ~/.one)")
    search.add_argument("--username", help="Alyx user name (default: from ~/.one)")
    search.add_argument("--json", action="store_true", help="print JSON (one array)")
    search.add_argument("--tag", help=TAG_HELP + " (default: full)")
    _add_search_terms(search)

    info = sub.add_parser(
        "cache-info",
        help="print the cache metadata; exit 0 fresh, 1 expired, 2 no tables, 4 no such folder",
    )
    info.add_argument("--cache-dir", help="ONE cache folder (default: from ~/.one)")
    info.add_argument("--json", action="store_true", help="JSON with ISO 8601 times")
    info.add_argument("--tag", help=TAG_HELP + " (default: full)")
    from one_tui.commands import download, freeze

    freeze.add_parser(sub)
    download.add_parsers(sub)
    return parser


def search_terms_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    """Turn CLI flags into ONE search keyword arguments, leaving out what was not given.
    Raises ValueError, as the app's filters refuse them, for a reversed date range and a QC
    or percentage that is not one."""
    terms: dict[str, Any] = {}
    for name in ("laboratory", "subject", "number", "projects", "task_protocol", "dataset"):
        values = getattr(ns, name)
        if values:
            terms[name] = values[0] if len(values) == 1 else values
    if ns.datasets:  # "a,b" as the app's field reads it
        terms["datasets"] = [p.strip() for v in ns.datasets for p in v.split(",") if p.strip()]
    if ns.date:
        terms["date_range"] = ns.date
    if ns.date_range:
        start, end = (d or None for d in ns.date_range)
        if start and end and start > end:
            raise ValueError(f"--date-range: {end} is before {start} (FROM comes first)")
        terms["date_range"] = [start, end]
    if ns.dataset_qc_lte:
        qc = ns.dataset_qc_lte
        terms["dataset_qc_lte"] = int(qc) if qc.isdigit() else qc
    terms.update(alyx_only_terms(ns))
    return terms


def alyx_only_terms(ns: argparse.Namespace) -> dict[str, Any]:
    """The terms only Alyx answers, named and shaped as the app's Alyx-only filters send
    them (``widgets/filters.py``); ``--django`` included (remote only too)."""
    from one_tui.engine.core.spec import QC

    terms: dict[str, Any] = {}
    if getattr(ns, "qc", None):
        terms["qc"] = int(QC.validate(ns.qc))
    for name in ("performance_gte", "performance_lte"):
        value = getattr(ns, name, None)
        if value is not None:
            if not 0 <= value <= 100:
                raise ValueError(f"--{name.replace('_', '-')}: a percentage, 0 to 100")
            terms[name] = value
    if getattr(ns, "atlas_acronym", None):
        terms["atlas_acronym"] = ns.atlas_acronym
    if getattr(ns, "histology", False):
        terms["histology"] = True
    django = []
    if getattr(ns, "narrative", None):
        from one_tui.engine import django_clause

        django.append(django_clause("narrative__icontains", ns.narrative))
    if ns.django:
        django.append(ns.django)
    if django:
        terms["django"] = ",".join(django)
    return terms


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def resolve_place(ns: argparse.Namespace) -> Place:
    """The database, folder, user and token as the app resolves them (``params.resolve_place``,
    ONE's rule), with the command line's own check: a --cache-dir that does not exist is an
    error (``One`` would create it, and a typo must not leave folders behind)."""
    from one_tui.engine import params

    base_url = getattr(ns, "base_url", None)
    cache_dir = getattr(ns, "cache_dir", None)
    if cache_dir and not Path(cache_dir).expanduser().is_dir():
        raise NoSuchFolder(f"no such folder: {Path(cache_dir).expanduser().absolute()} "
                           "(--cache-dir must exist; nothing was created)")
    place = params.resolve_place(base_url, cache_dir, getattr(ns, "username", None))
    if not cache_dir and not place.base_url and place.settings is None:
        # a damaged ~/.one is the reason, in its one line, not a note and a second error
        raise ValueError(place.problem or "no ONE database is set up in ~/.one: give "
                         "--cache-dir or --base-url")
    if place.problem:
        say(f"note: {place.problem}")
    return place


def _password_from(environ: Mapping[str, str]) -> str | None:
    return environ.get(PASSWORD_ENV) or None


def _ask_password(base_url: str, username: str | None) -> str | None:
    """A password typed on the terminal (not echoed); None when nobody is there to type it."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    import getpass

    try:
        return getpass.getpass(f"Alyx password for {username or '?'} at {base_url}: ") or None
    except (EOFError, KeyboardInterrupt):
        return None


def open_service(ns: argparse.Namespace, mode: str, asks_alyx: bool = False
                 ) -> tuple[EngineService, list[str]]:
    """The engine with the app's login (~/.one token, else $ONE_TUI_PASSWORD, else a prompt),
    connected as ONE's constructor would; returns it with the notices of the start.
    ``asks_alyx``: an Alyx-only term sends this search to Alyx, local mode included (what
    ``local`` means: ``LOCAL_MEANS``), so the login is needed then too."""
    from one_tui.engine import EngineService, Mode, OutcomeKind
    from one_tui.engine.core.results import recording

    place = resolve_place(ns)
    base_url, cache_dir, username, token = (place.base_url, place.cache_dir, place.username,
                                            place.token)
    tag = getattr(ns, "tag", None)
    if not base_url or (mode == "local" and not asks_alyx):
        with recording() as opened:  # what opening said (a plain-http URL) is printed
            svc = EngineService.open(cache_dir=cache_dir, base_url=base_url, mode=Mode.LOCAL,
                                     tag=tag)
        return svc, list(opened.notices)
    password = _password_from(os.environ)
    if not password and not token:  # as ONE does: no saved token, so ask now (on a terminal)
        password = _ask_password(base_url, username)
    # the saved token first (README): the password is kept for a re-login should Alyx reject
    # it, so a stale $ONE_TUI_PASSWORD does not turn a valid token into a refused login
    svc = EngineService.open(base_url=base_url, cache_dir=cache_dir, mode=Mode(mode),
                             username=username, password=password, token=token, tag=tag)
    out = svc.connect()
    if out.kind is OutcomeKind.LOGIN_NEEDED and not password and username:
        # the saved token was revoked: ask once, as ONE does
        password = _ask_password(base_url, username)
        if password:
            out = svc.login(username, password)
    return svc, list(out.notices)


def run_search(ns: argparse.Namespace) -> int:
    from one_tui.engine import SearchRequest

    if sys.stdout is None:  # before any work: nothing would be printed
        raise OutputLost("stdout is closed: the results have nowhere to go")
    terms = search_terms_from_args(ns)  # a reversed date range ends here, before any login
    alyx_only = bool(alyx_only_terms(ns))
    svc, notices = open_service(ns, ns.mode, asks_alyx=alyx_only)
    answer = svc.search_sessions(SearchRequest(terms, alyx_only=alyx_only))
    for notice in dict.fromkeys([*notices, *answer.notices]):  # the start's, then the search's
        say(f"note: {notice}")
    table = answer.unwrap()  # a failure (e.g. a regex over its time limit) ends here, one line
    assert table is not None
    records = [
        {"eid": eid, **{k: _jsonable(v) for k, v in row.items()}}
        for eid, row in zip(table.index, table.to_dict("records"), strict=True)
    ]
    if ns.json:
        out(json.dumps(records, indent=1))  # JSON escapes control characters by itself
    else:
        say(f"{len(records)} sessions ({answer.source})")  # first: a `| head` stops the rest
        out("\n".join(
            f"{r['eid']}  {r['date']}  {inert(r['subject']):<12} {r['number']:>3}  "
            f"{inert(r['lab']):<16} {r['task_protocol']}" for r in records))
    sys.stdout.flush()  # a full disk is told now, as an error, not at exit
    fallback = answer.fallback or svc.state().fallback
    if ns.mode == "remote" and fallback is not None:
        return Exit.NOT_REMOTE  # the notices said why; the rows are the local tables'
    return Exit.OK


def _when(value: dt.datetime | None, now: dt.datetime) -> str:
    from one_tui.text import fmt_age, fmt_time

    return f"{fmt_time(value)} ({fmt_age(value, now)} ago)" if value else "never"


def format_info(state: EngineState, now: dt.datetime) -> str:
    """cache-info for a person: times to the minute, ages, 'yes'/'no' (not repr()s)."""
    from one_tui.text import fmt_delta, fmt_time

    lines = [f"cache folder   {state.cache_dir}",
             f"table set      {state.tag or 'full'}"
             + (f"  ({state.tables_dir})" if state.tag else "")]
    if state.base_url:
        lines.append(f"Alyx           {state.base_url}")
    if not state.tables:
        lines.append("tables         none in this folder")
    for table in state.tables:
        rows_text = f"{table.rows:,}" if isinstance(table.rows, int) else "?"
        origin = f"  from {table.origin}" if table.origin else ""
        lines.append(f"{table.name:<14} {rows_text:>9} rows  created "
                     f"{fmt_time(table.date_created)}{origin}")
    fresh = state.freshness
    lines += [
        f"created        {_when(fresh.created, now)}",
        f"loaded         {_when(fresh.loaded, now)}",
        f"expires after  {fmt_delta(fresh.expiry)}",
    ]
    if state.tables:
        lines.append(f"state          {'expired' if fresh.expired(now) else 'fresh'}")
    return "\n".join(lines)


def state_json(state: EngineState, now: dt.datetime) -> dict[str, Any]:
    """cache-info --json: ONE's ``cache_info`` names, times in ISO 8601, expiry in seconds."""
    fresh = state.freshness
    return {k: _jsonable(v) for k, v in {
        "cache_dir": state.cache_dir,
        "tables": {t.name: {"rows": t.rows, "date_created": t.date_created, "origin": t.origin}
                   for t in state.tables},
        "created_time": fresh.created, "loaded_time": fresh.loaded,
        "expired": fresh.expired(now), "cache_expiry": fresh.expiry,
        "next_refresh": state.next_refresh,
        "rest_cache": dataclasses.asdict(state.rest),
        "mode": str(state.mode), "requested_mode": str(state.requested),
        "fallback_reason": state.fallback.text if state.fallback else None,
        "base_url": state.base_url, "user": state.user, "read_only": state.read_only,
        "tag": state.tag, "tables_dir": state.tables_dir or state.cache_dir,
    }.items()}


def run_cache_info(ns: argparse.Namespace) -> int:
    from one_tui.engine import EngineService, Mode

    folder = resolve_place(ns).cache_dir
    if not folder.is_dir():  # the folder ~/.one names: a report must not create it either
        raise NoSuchFolder(f"no such folder: {folder.absolute()} (the cache folder ~/.one "
                           "names; nothing was created)")
    state = EngineService.open(cache_dir=folder, mode=Mode.LOCAL, tag=ns.tag).state()
    now = dt.datetime.now()
    if ns.json:
        out(json.dumps(state_json(state, now), indent=1))
    else:
        out(format_info(state, now))
    sys.stdout.flush()
    if not state.tables:
        return EXIT_NO_TABLES
    return EXIT_EXPIRED if state.freshness.expired(now) else EXIT_FRESH


def run_demo_server(ns: argparse.Namespace) -> int:
    from one_tui.demo.server import main as server_main

    return server_main(
        ["--port", str(ns.port), "--sessions", str(ns.sessions), "--seed", str(ns.seed)]
    )


def run_app(ns: argparse.Namespace) -> int:
    from one_tui.tui.launch import launch

    ns.demo = ns.command == "demo"
    return launch(ns)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (``one_tui.exits.Exit``), never a traceback for a
    failure, an interrupt or a reader that went away."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # `| head`: the reader has all it wanted. Quiet, and the exit a shell gives a process
        # SIGPIPE ends; stdout goes to /dev/null so the flush at exit cannot complain again.
        _silence_stdout()
        return Exit.BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    from one_tui.engine.core.errors import ALFError, AlyxError, LoginRequired

    ns = build_parser().parse_args(argv)
    from one_tui.commands import download, freeze

    commands = {"search": run_search, "cache-info": run_cache_info, "demo-server": run_demo_server,
                "freeze": freeze.run, "download": download.run_download,
                "check": download.run_check}
    handler = commands.get(ns.command or "", run_app)
    try:
        return handler(ns)
    except NoSuchFolder as exc:
        say(f"one-tui: {exc}")
        return Exit.NO_FOLDER
    except OutputLost as exc:
        _silence_stdout()
        say(f"one-tui: {exc}")
        return Exit.ERROR
    except BrokenPipeError:
        raise
    except (ValueError, OSError, ALFError, AlyxError) as exc:
        # Engine errors carry messages meant for the user: one line, no traceback.
        say(f"one-tui: {one_line(exc, limit=1000)}")
        if isinstance(exc, LoginRequired):
            say(f"one-tui: log in with --username; the password is asked on a terminal, or "
                f"set {PASSWORD_ENV} in a script")
        return Exit.ERROR


def _silence_stdout() -> None:
    """Point stdout at /dev/null: what Python still holds for it is dropped at exit quietly."""
    if sys.stdout is None:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
