"""A deterministic, synthetic IBL-like Alyx database for the demo server, tests and benchmarks.

Everything derives from ``numpy.random.default_rng(seed)`` (UUIDs included), so the same
``(n_sessions, seed)`` always gives identical tables. Dataset rows are generated with vectorised
numpy from per-protocol templates: no Python loop per dataset, so 20,000 sessions (~1.5M datasets)
build in seconds. Nothing here imports textual or rich.

This module is the database object and :func:`generate`; what the world contains is in
``demo/catalogue.py`` and ``demo/atlas.py``, the random draws in ``demo/generator.py``, the files
one_cache writes in ``demo/cachefiles.py`` and the REST records in ``demo/records.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from one_tui.demo import cachefiles
from one_tui.demo.catalogue import BRAINWIDE, LABS, split_projects
from one_tui.demo.generator import (
    make_datasets,
    make_insertions,
    make_labs,
    make_sessions,
    make_subjects,
)

__all__ = ["SyntheticDB", "generate"]


@dataclass
class SyntheticDB:
    """The synthetic Alyx content: ONE-format tables plus what only REST shows."""

    sessions: pd.DataFrame
    datasets: pd.DataFrame
    insertions: pd.DataFrame
    session_extra: pd.DataFrame
    subjects: pd.DataFrame
    labs: pd.DataFrame
    users: list[str]
    projects: list[str]
    seed: int
    date_created: dt.datetime
    origin: str = "demo"
    #: Each session's (start, stop) row range in ``datasets`` (rows are grouped by session).
    dataset_slices: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    # -- the files one_cache writes --
    def table_metadata(self, date_created: dt.datetime | None = None) -> dict[str, Any]:
        """The ``one_metadata`` Alyx's one_cache writes into each table."""
        return cachefiles.table_metadata(date_created or self.date_created, self.origin)

    def write_tables(self, dir: str | Path,  # noqa: A002 (name from the contract)
                     date_created: dt.datetime | None = None,
                     existing_only: bool = False) -> list[Path]:
        """Write sessions.pqt, datasets.pqt and cache_info.json into ``dir``.

        ``existing_only`` keeps only datasets with an existing server file, as Alyx's one_cache
        does (its tables then have ``exists`` all True); by default every row is written.
        """
        datasets = self.existing_datasets() if existing_only else self.datasets
        return cachefiles.write_tables(Path(dir), self.sessions, datasets,
                                       self.table_metadata(date_created))

    def cache_zip_bytes(self, date_created: dt.datetime | None = None) -> bytes:
        """cache.zip as Alyx's ``one_cache --compress --qc`` builds it (existing files only)."""
        qc = cachefiles.qc_records(self.session_extra, self.insertions)
        return cachefiles.cache_zip(self.sessions, self.existing_datasets(), qc,
                                    self.table_metadata(date_created))

    # -- lookups --
    def existing_datasets(self) -> pd.DataFrame:
        """The dataset rows with a file on the server (what Alyx's one_cache exports)."""
        return self.datasets[self.datasets["exists"].to_numpy()]

    def session_datasets(self, eid: str) -> pd.DataFrame:
        """The session's dataset rows (index: dataset id), from the precomputed row range."""
        start, stop = self.dataset_slices.get(eid, (0, 0))
        return self.datasets.iloc[start:stop].droplevel(0)

    def session_ref(self, eid: str) -> tuple[str, str, dt.date, int]:
        """(lab, subject, date, number) of a session."""
        row = self.sessions.loc[eid]
        return row["lab"], row["subject"], row["date"], int(row["number"])


def generate(n_sessions: int = 50, seed: int = 0) -> SyntheticDB:
    """Build the synthetic database; identical output for identical ``(n_sessions, seed)``."""
    rng = np.random.default_rng([seed, n_sessions])
    subjects = make_subjects(rng, n_sessions)
    sess, extra, kind, n_probes = make_sessions(rng, subjects, n_sessions)
    datasets, slices, ds_probe, ds_sess = make_datasets(rng, sess.index, kind)
    insertions, acronyms = make_insertions(rng, sess, extra, datasets, ds_probe, ds_sess,
                                           n_probes, subjects)
    extra["atlas_acronyms"] = pd.Series(acronyms, index=sess.index, dtype=object)
    projects = sorted({p for ps in sess["projects"] for p in split_projects(ps)} | {BRAINWIDE})
    users = sorted({u for v in LABS.values() for u in v[4]})
    now = dt.datetime.now().replace(second=0, microsecond=0)
    return SyntheticDB(sessions=sess, datasets=datasets, insertions=insertions,
                       session_extra=extra, subjects=subjects, labs=make_labs(), users=users,
                       projects=projects, seed=seed, date_created=now, dataset_slices=slices)
