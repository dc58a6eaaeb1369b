"""Downloads against the real file server: one-tui beside ONE-api 3.6.1 and 2.11.2 in the same
run, fresh folders each time (issue 20).

    ONE_TUI_REAL_ALYX=http://127.0.0.1:8090 .venv/bin/python benchmarks/bench_download.py \\
        [--runs 1] [--skip-2x]

(a) every small dataset of every session (everything outside ``raw_ephys_data`` and
    ``raw_video_data``, default revisions, CRITICAL left out as ONE's loaders do): ONE-api
    ``load_datasets(eid, rel_paths, download_only=True)`` per session in remote mode, one-tui
    ``plan_download`` + ``download`` (4 files at once, ONE's default);
(b) the raw ``.cbin`` files (40, ~300 MB), the same two ways, and ``curl --parallel`` (4 at
    once, no hashing: the physical reference of this machine's loopback);
(c) checking those files already on disk: ONE-api's second ``load_datasets`` on its folder
    (it md5s every file again) against one-tui's second ``check_disk`` (verify once: stat
    only), and one-tui's ``--verify`` (every file hashed) for reference.

Each figure is the wall time of the work itself (the tools' start-up and one-tui's table
download are printed apart). Tables are Alyx's: one-tui fetches them with ``connect`` into
its fresh folder (timed apart); ONE-api in remote mode asks Alyx per session, as it does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ORACLES = Path(os.environ.get("ONE_TUI_ORACLE_HOME", "/var/tmp/one-tui-oracles"))
ALYX_RUN = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))

ONE_LOADS = """
import json, sys, time
from one.api import OneAlyx
args = json.loads(sys.argv[1])
one = OneAlyx(base_url=args['url'], cache_dir=args['cache'], mode=args['mode'], silent=True)
times = []
for attempt in range(args['repeat']):
    t0 = time.perf_counter()
    n = 0
    for eid, rels in args['todo'].items():
        n += len(one.load_datasets(eid, rels, download_only=True)[0])
    times.append(time.perf_counter() - t0)
print(json.dumps({'seconds': times, 'files': n}))
"""


def settings(home: Path, url: str, user: str, password: str, cache: Path) -> None:
    populated = json.loads((ALYX_RUN / "populated.json").read_text())
    from one_tui.engine.params import client_key

    key = client_key(url)
    (home / ".one").mkdir(parents=True, exist_ok=True)
    (home / ".one" / ".caches").write_text(json.dumps({"CLIENT_MAP": {key: str(cache)},
                                                       "DEFAULT": key}))
    (home / ".one" / f".{key}").write_text(json.dumps({
        "ALYX_URL": url, "ALYX_LOGIN": user, "ALYX_PWD": password,
        **populated["data_server"]["one_params"]}))


def one_api(version: str, home: Path, url: str, cache: Path, todo: dict[str, list[str]],
            repeat: int = 1) -> dict[str, Any]:
    python = ORACLES / f"one-api-{version}" / "bin" / "python"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TQDM_DISABLE": "1",
           "ONE_HTTP_DL_THREADS": "4"}
    mode = "remote" if version.startswith("3") else "auto"
    started = time.perf_counter()
    proc = subprocess.run([str(python), "-c", ONE_LOADS, json.dumps({
        "url": url, "cache": str(cache), "mode": mode, "todo": todo, "repeat": repeat})],
        capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode:
        raise SystemExit(f"ONE-api {version} failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process"] = time.perf_counter() - started
    return out


def selection(service: Any, kind: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """(eids, {eid: rel_paths} for ONE, the same datasets' ids for one-tui) of a kind."""
    frame = service.one.list_datasets(qc="FAIL", details=True, default_revisions_only=True,
                                      keep_eid_index=True).reset_index()
    rel = frame.rel_path.astype(str)
    if kind == "small":
        mask = ~rel.str.startswith(("raw_ephys_data", "raw_video_data"))
    else:
        mask = rel.str.endswith(".cbin")
    picked = frame[mask]
    todo: dict[str, list[str]] = {}
    for eid, group in picked.groupby(picked.eid.astype(str)):
        todo[str(eid)] = sorted(group.rel_path.astype(str))
    return list(todo), todo, sorted(picked.id.astype(str))


def one_tui_download(service: Any, eids: list[str], ids: list[str]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    plan = service.plan_download(eids, dataset_ids=ids).unwrap()
    report = service.download(plan).unwrap()
    took = time.perf_counter() - t0
    assert report.ok, report.message
    return took, report


def curl(urls: list[str], dest: Path) -> float:
    dest.mkdir(parents=True)
    args = ["curl", "-s", "--no-progress-meter", "--parallel", "--parallel-max", "4",
            "-u", "iblmember:flatiron"]
    for i, url in enumerate(urls):
        args += ["-o", str(dest / f"f{i}"), url]
    t0 = time.perf_counter()
    subprocess.run(args, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-2x", action="store_true", help="leave ONE-api 2.11.2 out")
    args = parser.parse_args()
    url = os.environ.get("ONE_TUI_REAL_ALYX", "http://127.0.0.1:8090").rstrip("/")
    user, password = "intbrainlab", "international"
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    home = work / "home"
    os.environ["HOME"] = str(home)
    from one_tui.engine import EngineService

    def fresh_service(name: str) -> tuple[Any, float]:
        cache = work / name
        settings(home, url, user, password, cache)
        t0 = time.perf_counter()
        svc = EngineService.open(base_url=url, cache_dir=cache, username=user,
                                 password=password)
        svc.connect()
        return svc, time.perf_counter() - t0

    versions = ["3.6.1"] + ([] if args.skip_2x else ["2.11.2"])
    rows: list[tuple[str, str]] = []
    try:
        for kind, label in (("small", "(a) small datasets"), ("cbin", "(b) raw .cbin")):
            svc, tables = fresh_service(f"tui-{kind}")
            eids, todo, ids = selection(svc, kind)
            n = sum(len(v) for v in todo.values())
            took, report = one_tui_download(svc, eids, ids)
            mb = report.bytes / 1e6
            rows.append((f"{label}: one-tui ({n} files, {mb:.1f} MB)",
                         f"{took:.2f} s ({mb / took:.0f} MB/s); tables {tables:.2f} s apart"))
            for version in versions:
                cache = work / f"one-{version}-{kind}"
                settings(home, url, user, password, cache)
                got = one_api(version, home, url, cache, todo)
                sec = got["seconds"][0]
                rows.append((f"{label}: ONE-api {version}",
                             f"{sec:.2f} s ({mb / sec:.0f} MB/s) -> one-tui {sec / took:.1f}x"))
            if kind == "cbin":
                tasks = svc.plan_download(eids, dataset_ids=ids).unwrap().tasks
                took_curl = curl([t.url for t in tasks], work / "curl")
                rows.append(("(b) curl --parallel 4, no hashing (physical reference)",
                             f"{took_curl:.2f} s ({mb / took_curl:.0f} MB/s)"))
                # (c) the second check of what is on disk
                svc.check_disk(eids, dataset_ids=ids).unwrap()  # first check after download
                t0 = time.perf_counter()
                second = svc.check_disk(eids, dataset_ids=ids).unwrap()
                t_tui = time.perf_counter() - t0
                assert second.ok and second.hashed_bytes == 0
                t0 = time.perf_counter()
                full = svc.check_disk(eids, dataset_ids=ids, verify=True).unwrap()
                t_full = time.perf_counter() - t0
                assert full.ok and full.hashed_bytes >= report.bytes
                one_cache = work / "one-3.6.1-cbin"
                settings(home, url, user, password, one_cache)
                again = one_api("3.6.1", home, url, one_cache, todo, repeat=2)
                t_one = again["seconds"][1]
                rows.append((f"(c) second check of {mb:.0f} MB on disk: one-tui",
                             f"{t_tui:.3f} s (stat only; --verify re-hashes: {t_full:.2f} s)"))
                rows.append(("(c) ONE-api 3.6.1 second load_datasets (md5 of every file)",
                             f"{t_one:.2f} s -> one-tui {t_one / t_tui:.0f}x"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
