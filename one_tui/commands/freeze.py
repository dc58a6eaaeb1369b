"""`one-tui freeze DIR [TERM=VALUE ...] [--tag TAG] [--with-data]`: the hand-off to a compute
node without network.

Writes a self-contained ONE cache folder (the sessions the terms select in the tables on this
disk, their datasets, optionally their files) and prints the Python line the batch job runs.
It never asks Alyx: fetch the tables (and with ``--with-data`` the files) on the login node
first; files not on this disk are listed with what to run to get them.

Exit codes: 0 written; 1 written but files are missing or not Alyx's bytes (``--with-data``);
3 nothing written (an error, one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run", "parse_terms"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_ERROR = 0, 1, 3
_SHOWN = 10  # missing files listed before "... and N more"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "freeze", help="write a ONE cache folder for a compute node without network",
        description="Write the tables of the sessions the terms select (and with --with-data "
                    "their files) into DIR, for ONE(mode='local', cache_dir=DIR) on a node "
                    "without network. Terms are ONE's search names: subject=KS001 "
                    "date_range=2024-01-01,2024-03-31 dataset=trials (a comma makes a list).")
    parser.add_argument("dir", metavar="DIR", help="the new folder (must not hold ONE tables)")
    parser.add_argument("terms", nargs="*", metavar="TERM=VALUE", help="ONE search terms")
    parser.add_argument("--cache-dir", help="ONE cache folder (default: from ~/.one)")
    parser.add_argument("--base-url", help="Alyx URL whose folder to read (default: ~/.one)")
    parser.add_argument("--tag", help="release tag whose tables to freeze (default: full)")
    parser.add_argument("--with-data", action="store_true",
                        help="also put the files in DIR (hard links, else copies; size+md5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def parse_terms(items: list[str]) -> dict[str, Any]:
    """``["subject=KS001", "date_range=2024-01-01,2024-02-01"]`` as ONE's search terms."""
    terms: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"search term {item!r} is not TERM=VALUE (e.g. subject=KS001)")
        terms[key.strip().replace("-", "_")] = value.split(",") if "," in value else value
    return terms


def run(ns: argparse.Namespace) -> int:
    from one_tui.engine import EngineService, Mode, resolve_place

    terms = parse_terms(ns.terms)
    place = resolve_place(ns.base_url, ns.cache_dir)
    service = EngineService.open(cache_dir=place.cache_dir, base_url=place.base_url,
                                 mode=Mode.LOCAL, tag=ns.tag)
    answer = service.freeze(ns.dir, terms=terms, with_data=ns.with_data)
    for notice in answer.notices:
        print(f"note: {notice}", file=sys.stderr)
    if answer.error is not None or answer.value is None:
        print(f"one-tui freeze: {answer.error}", file=sys.stderr)
        return EXIT_ERROR
    report = answer.value
    if ns.json:
        print(json.dumps({"folder": str(report.folder), "sessions": report.sessions,
                          "datasets": report.datasets, "tag": report.tag,
                          "linked": report.linked, "copied": report.copied,
                          "bytes": report.bytes, "missing": list(report.missing),
                          "mismatched": list(report.mismatched),
                          "python": report.python_line}, indent=1))
    else:
        print(f"{report.sessions} sessions, {report.datasets} datasets "
              f"({report.tag or 'full'} tables) written to {report.folder}", file=sys.stderr)
        if ns.with_data:
            print(f"{report.linked} files hard-linked, {report.copied} copied "
                  f"({report.bytes:,} bytes, size and md5 checked)", file=sys.stderr)
        _explain(report.missing, "not on this disk", file=sys.stderr)
        _explain(report.mismatched, "on this disk but not Alyx's bytes (size or md5)",
                 file=sys.stderr)
        if report.missing or report.mismatched:
            print("download them first (one-tui download, or ONE's load_dataset on this "
                  "node), then run the same freeze again", file=sys.stderr)
        print(report.python_line)
    return EXIT_INCOMPLETE if report.missing or report.mismatched else EXIT_OK


def _explain(paths: tuple[str, ...], what: str, file: Any) -> None:
    if not paths:
        return
    print(f"{len(paths)} files {what}:", file=file)
    for path in paths[:_SHOWN]:
        print(f"  {path}", file=file)
    if len(paths) > _SHOWN:
        print(f"  ... and {len(paths) - _SHOWN} more", file=file)
