"""A demo Alyx on loopback: the REST endpoints ONE and one-tui read, with fault injection.

It serves a :class:`~one_tui.demo.synth.SyntheticDB` the way Alyx 3.6 answers (see
``shared/reference/alyx-api.md``): token auth with 403s, limit/offset pagination capped at 1000,
the sessions filters with their 500 quirks, HTML 404s for unknown paths and trailing slashes,
``/cache/info/`` and ``/cache.zip``, and a small ``/api/schema``. Nothing is written: every write
is refused with 403, as for IBL's public accounts.

Faults (``server.faults``, a :class:`Faults`) let tests and the demo show what a flaky network or
server does to the app. A "switch" field takes ``True`` (always), an ``int`` N (the next N
requests) or ``False``; ``faults.paths`` limits every fault to request paths with those prefixes.

The code lives in ``demo/http.py`` (:class:`DemoServer` and its request handler),
``demo/router.py`` (the endpoints), ``demo/records.py`` (the JSON records), ``demo/query.py`` and
``demo/lookups.py`` (the filters), ``demo/filters.py`` (django lookups), ``demo/auth.py``,
``demo/tables.py``, ``demo/schema.py`` and ``demo/faults.py``; this module is where callers
import :class:`DemoServer` from, and runs ``one-tui demo-server``.
"""

from __future__ import annotations

import argparse
import time

from one_tui.demo import synth
from one_tui.demo.http import DemoServer

__all__ = ["DemoServer", "main"]


# --- command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``one-tui demo-server``: serve a synthetic database until interrupted."""
    ap = argparse.ArgumentParser(prog="one-tui demo-server",
                                 description="Serve a synthetic IBL-like Alyx on loopback.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--page-size", type=int, default=250)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    ap.add_argument("--throttle", type=int, default=None, help="requests per minute per user")
    args = ap.parse_args(argv)
    db = synth.generate(args.sessions, seed=args.seed)
    server = DemoServer(db, host=args.host, port=args.port, page_size=args.page_size)
    server.faults.latency = args.latency
    server.faults.throttle_per_minute = args.throttle
    server.start()
    server.warm_up()
    print(f"Demo Alyx at {server.url} ({len(db.sessions)} sessions, {len(db.datasets)} "
          f"datasets); log in with demo / demo. Ctrl+C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
