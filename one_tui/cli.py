"""The `one-tui` command: the app, the demo, and two script-friendly commands.

Parsing stays cheap (argparse only): pandas, pyarrow, httpx and Textual are imported by the
sub-command that needs them, so `one-tui --help` answers at once on a slow login node.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

MODES = ("local", "remote", "auto", "refresh")

# Exit codes of `one-tui cache-info`, for cluster jobs that check freshness.
EXIT_FRESH, EXIT_EXPIRED, EXIT_NO_TABLES = 0, 1, 2
EXIT_ERROR = 3


def _add_app_flags(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """Flags of the app; on a sub-command they are suppressed so they don't reset the main ones."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--base-url", default=default, help="Alyx URL (default: from ~/.one)")
    parser.add_argument("--cache-dir", default=default, help="ONE cache folder")
    parser.add_argument("--mode", choices=MODES, default=default, help="ONE mode (default auto)")
    parser.add_argument("--username", default=default, help="Alyx user name")
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
    terms.add_argument("--datasets", action="append", help="exact file name, all required")
    terms.add_argument("--dataset-qc-lte", help="QC name or value, e.g. WARNING or 30")
    terms.add_argument("--django", help="raw Alyx filter (remote only): field__lookup,value")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="one-tui",
        description="Browse ONE sessions, datasets and cache freshness in the terminal.",
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
    server.add_argument("--port", type=int, default=8765)
    server.add_argument("--sessions", type=int, default=300)
    server.add_argument("--seed", type=int, default=0)

    search = sub.add_parser("search", help="search sessions and print them (for scripts)")
    search.add_argument("--cache-dir", required=True)
    search.add_argument("--mode", choices=MODES, default="local")
    search.add_argument("--base-url")
    search.add_argument("--json", action="store_true", help="print JSON (one array)")
    _add_search_terms(search)

    info = sub.add_parser(
        "cache-info",
        help="print the cache metadata; exit 0 fresh, 1 expired, 2 no tables",
    )
    info.add_argument("--cache-dir", required=True)
    info.add_argument("--json", action="store_true")
    return parser


def search_terms_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    """Turn CLI flags into ONE search keyword arguments, leaving out what was not given."""
    terms: dict[str, Any] = {}
    for name in ("laboratory", "subject", "number", "projects", "task_protocol", "dataset"):
        values = getattr(ns, name)
        if values:
            terms[name] = values[0] if len(values) == 1 else values
    if ns.datasets:
        terms["datasets"] = ns.datasets
    if ns.date:
        terms["date_range"] = ns.date
    if ns.date_range:
        terms["date_range"] = [d or None for d in ns.date_range]
    if ns.dataset_qc_lte:
        qc = ns.dataset_qc_lte
        terms["dataset_qc_lte"] = int(qc) if qc.isdigit() else qc
    if ns.django:
        terms["django"] = ns.django
    return terms


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def run_search(ns: argparse.Namespace) -> int:
    from one_tui.engine.one import One

    one = One(base_url=ns.base_url, cache_dir=ns.cache_dir, mode=ns.mode)
    table = one.search_sessions(**search_terms_from_args(ns))
    for notice in one.notices:
        print(f"note: {notice}", file=sys.stderr)
    records = [
        {"eid": eid, **{k: _jsonable(v) for k, v in row.items()}}
        for eid, row in zip(table.index, table.to_dict("records"), strict=True)
    ]
    if ns.json:
        print(json.dumps(records, indent=1))
    else:
        for r in records:
            print(
                f"{r['eid']}  {r['date']}  {r['subject']:<12} {r['number']:>3}  {r['lab']:<16} "
                f"{r['task_protocol']}"
            )
        print(f"{len(records)} sessions ({one.last_source})", file=sys.stderr)
    return 0


def _format_info(info: dict[str, Any]) -> str:
    lines = [f"cache folder   {info['cache_dir']}"]
    for name, table in info["tables"].items():
        lines.append(
            f"{name:<14} {table['rows']:>9,} rows  created {table.get('date_created') or '?'}"
            f"  origin {table.get('origin') or '?'}"
        )
    lines += [
        f"created_time   {info['created_time']}",
        f"loaded_time    {info['loaded_time']}",
        f"cache_expiry   {info['cache_expiry']}",
        f"expired        {info['expired']}",
    ]
    return "\n".join(lines)


def run_cache_info(ns: argparse.Namespace) -> int:
    from one_tui.engine.one import One

    one = One(cache_dir=ns.cache_dir, mode="local")
    info = one.cache_info()
    if ns.json:
        print(json.dumps(info, default=str, indent=1))
    else:
        print(_format_info(info))
    if not info["tables"]:
        return EXIT_NO_TABLES
    return EXIT_EXPIRED if info["expired"] else EXIT_FRESH


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
    from one_tui.engine.exceptions import ALFError, AlyxError

    ns = build_parser().parse_args(argv)
    commands = {"search": run_search, "cache-info": run_cache_info, "demo-server": run_demo_server}
    handler = commands.get(ns.command or "", run_app)
    try:
        return handler(ns)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, ALFError, AlyxError) as exc:
        # Engine errors carry messages meant for the user: one line, no traceback.
        print(f"one-tui: {exc}", file=sys.stderr)
        return EXIT_ERROR
