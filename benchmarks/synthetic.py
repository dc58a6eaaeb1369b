"""The IBL-scale synthetic cache the benchmarks share, generated once into benchmarks/.data/."""

from __future__ import annotations

import json
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"


def ibl_cache(n_sessions: int = 20000, seed: int = 0) -> Path:
    """The tables of ``generate(n_sessions, seed)``; reused while the parameters are the same."""
    folder = DATA / f"synthetic-{n_sessions}-{seed}"
    marker = folder / "bench.json"
    if marker.exists():
        return folder
    from one_tui.demo.synth import generate

    t0 = time.perf_counter()
    print(f"generating {n_sessions:,} sessions into {folder} …", flush=True)
    db = generate(n_sessions=n_sessions, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    db.write_tables(folder)
    marker.write_text(json.dumps({"n_sessions": n_sessions, "seed": seed,
                                  "datasets": len(db.datasets)}))
    print(f"generated {len(db.datasets):,} dataset rows in {time.perf_counter() - t0:.1f} s",
          flush=True)
    return folder
