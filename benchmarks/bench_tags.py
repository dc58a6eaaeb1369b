"""A release tag's second start: what one-tui and ONE-api 2.11.2 / 3.6.1 send and how long it
takes, against the loopback real Alyx (issue 17, ONE's trap A).

    ONE_TUI_REAL_ALYX=http://127.0.0.1:8090 .venv/bin/python benchmarks/bench_tags.py [--tag T]

Each client starts twice as a fresh process on a folder of its own (the second start is the one
a user repeats every day): one-tui opens the tag (``EngineService.open(tag=T).connect()``),
ONE-api runs ``ONE(...).load_cache(tag=T)``. Bytes are the tag zip's bytes in the file server's
log (``$ALYX_RUN/logs/data-access.log``) during that start; times are the process's wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORACLES = Path(os.environ.get("ONE_TUI_ORACLE_HOME", "/var/tmp/one-tui-oracles"))

ONE_TUI = """
import sys
from one_tui.engine import EngineService
s = EngineService.open(base_url=sys.argv[1], cache_dir=sys.argv[2], username=sys.argv[3],
                       password=sys.argv[4], tag=sys.argv[5])
print(s.connect().kind)
"""
ONE_API = """
import sys
from one.api import ONE
one = ONE(base_url=sys.argv[1], cache_dir=sys.argv[2], username=sys.argv[3],
          password=sys.argv[4], silent=True)
one.load_cache(tag=sys.argv[5])
print('loaded')
"""


def zip_bytes(log: Path, tag: str) -> int:
    total = 0
    for line in log.read_text(errors="replace").splitlines():
        if f"/{tag}/cache.zip" in line and '" 200 ' in line:
            size = line.split('" 200 ')[1].split()[0]
            total += int(size) if size.isdigit() else 0
    return total


def run(python: str, code: str, args: list[str], home: Path, log: Path,
        tag: str) -> tuple[float, int]:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    before = zip_bytes(log, tag)
    start = time.perf_counter()
    subprocess.run([python, "-c", code, *args], env=env, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=300)
    took = time.perf_counter() - start
    time.sleep(0.3)  # the server writes its log line after the response
    return took, zip_bytes(log, tag) - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tag", default="Brainwidemap")
    ns = parser.parse_args()
    url = os.environ.get("ONE_TUI_REAL_ALYX", "http://127.0.0.1:8090")
    log = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run")) / "logs" / "data-access.log"
    clients = [("one-tui", sys.executable, ONE_TUI)]
    for version in ("2.11.2", "3.6.1"):
        python = ORACLES / f"one-api-{version}" / "bin" / "python"
        if python.exists():
            clients.append((f"ONE-api {version}", str(python), ONE_API))
    print("| client | first start | second start | tag zip bytes, second start |")
    print("|---|---:|---:|---:|")
    for name, python, code in clients:
        with tempfile.TemporaryDirectory() as tmp:
            home, cache = Path(tmp) / "home", Path(tmp) / "cache"
            home.mkdir()
            args = [url, str(cache), "intbrainlab", "international", ns.tag]
            first, _ = run(python, code, args, home, log, ns.tag)
            second, sent = run(python, code, args, home, log, ns.tag)
            print(f"| {name} | {first:.2f} s | {second:.2f} s | {sent:,} |")


if __name__ == "__main__":
    main()
