"""The random draws that fill the synthetic database: subjects, sessions, datasets, insertions.

Exists so that how the synthetic tables are drawn (distributions, vectorised numpy over the
per-kind dataset templates, ids from the seeded generator) changes in one place, apart from what
the world contains (``demo/catalogue.py``, ``demo/atlas.py``) and from the database object that
holds the result (``demo/synth.py``, whose :func:`~one_tui.demo.synth.generate` calls these in
order). Everything derives from the ``numpy.random.Generator`` passed in, UUIDs included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from one_tui.demo.atlas import LEAF_REGIONS
from one_tui.demo.catalogue import (
    BRAINWIDE,
    LABS,
    NARRATIVES,
    PROTOCOLS,
    REVISIONS,
    Template,
    flat_templates,
)
from one_tui.engine.core.spec import QC_CATEGORIES

__all__ = ["make_labs", "make_subjects", "make_sessions", "make_datasets", "make_insertions"]

_EPOCH = np.datetime64("2018-01-01")
_LAST_DAY = np.datetime64("2025-12-31")


def make_labs() -> pd.DataFrame:
    """The labs table (as /labs lists them), one row per lab of the catalogue."""
    return pd.DataFrame(
        [{"name": k, "institution": v[0], "address": "", "timezone": v[1],
          "repositories": [f"flatiron_{k}", f"{k}_SR"], "reference_weight_pct": 0.85,
          "zscore_weight_pct": 0.0, "json": None} for k, v in LABS.items()]
    ).set_index("name", drop=False)


def make_subjects(rng: np.random.Generator, n_sessions: int) -> pd.DataFrame:
    """Subjects (~25 sessions each) over the labs, each active ~6 months between 2018 and 2025."""
    lab_names = list(LABS)
    n = max(len(lab_names), n_sessions // 25)
    lab_idx = np.arange(n) % len(lab_names)
    rows = []
    counters = {lab: LABS[lab][3] + int(rng.integers(0, 40)) for lab in lab_names}
    ids = _uuids(rng, n)
    start_days = rng.integers(0, (np.datetime64("2025-07-01") - _EPOCH).astype(int), n)
    sex = rng.choice(["M", "F"], n).tolist()
    histology = rng.random(n) < 0.4
    resp = rng.integers(0, 3, n)
    for i in range(n):
        lab = lab_names[lab_idx[i]]
        nick = LABS[lab][2].format(counters[lab])
        counters[lab] += 1 + int(rng.integers(0, 3))
        start = _EPOCH + np.timedelta64(int(start_days[i]), "D")
        rows.append({
            "nickname": nick, "id": ids[i], "lab": lab, "sex": sex[i],
            "birth_date": (start - np.timedelta64(70, "D")).astype(dt.date),
            "responsible_user": LABS[lab][4][resp[i]], "start_day": int(start_days[i]),
            "histology": bool(histology[i]), "strain": "C57BL/6J", "species": "Mus musculus",
        })
    return pd.DataFrame(rows).set_index("nickname", drop=False)


def make_sessions(rng: np.random.Generator, subjects: pd.DataFrame, n: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Sessions (ONE format) and their REST-only fields; also template kind and probe count."""
    subj_i = rng.integers(0, len(subjects), n)
    offset = rng.integers(0, 180, n)
    day = np.minimum(subjects["start_day"].to_numpy()[subj_i] + offset,
                     (_LAST_DAY - _EPOCH).astype(int))
    seconds = rng.integers(8 * 3600, 19 * 3600, n) * 1_000_000 + rng.integers(0, 1_000_000, n)
    start = (_EPOCH + day.astype("timedelta64[D]")).astype("datetime64[us]") + \
        seconds.astype("timedelta64[us]")
    # Protocol follows the subject's progress; some sessions have none.
    stage = np.select([offset < 6, offset < 60, offset < 95], [1, 2, 3], 4)
    stage[rng.random(n) < 0.06] = 0
    n_probes = np.where(stage == 4, np.where(rng.random(n) < 0.7, 2, 1), 0)
    kind = np.where(stage == 4, 3 + n_probes, stage)
    protocol_names = [PROTOCOLS[k] for k in ("none", "habituation", "training", "biased", "ephys")]
    lab = subjects["lab"].to_numpy()[subj_i]
    nick = subjects["nickname"].to_numpy()[subj_i]
    order = np.lexsort((-start.astype(np.int64),))  # newest first, as Alyx lists sessions
    subj_i, start, stage, n_probes, kind, lab, nick, offset = (
        a[order] for a in (subj_i, start, stage, n_probes, kind, lab, nick, offset))
    date = start.astype("datetime64[D]")
    number = _session_numbers(subj_i, date, start)
    eids = _uuids(rng, n)
    projects = _projects(rng, lab, stage)
    sessions = pd.DataFrame({
        "lab": pd.array(lab, dtype="str"), "subject": pd.array(nick, dtype="str"),
        "date": date.astype(dt.date), "number": number.astype(np.uint16),
        "task_protocol": _strings(protocol_names, stage), "projects": projects,
    }, index=pd.Index(eids, name="id"))
    extra = _session_extra(rng, sessions, subjects, subj_i, start, stage, offset)
    return sessions, extra, kind, n_probes


def _session_numbers(subj_i: np.ndarray, date: np.ndarray, start: np.ndarray) -> np.ndarray:
    """1 + rank of the session among its subject's sessions that day (by start time)."""
    key = pd.DataFrame({"s": subj_i, "d": date, "t": start})
    rank = key.sort_values("t").groupby(["s", "d"]).cumcount().reindex(key.index)
    return np.asarray(rank.to_numpy()) + 1


def _projects(rng: np.random.Generator, lab: np.ndarray, stage: np.ndarray) -> pd.array:
    n = len(lab)
    pool = [""] + [f"ibl_{name}" for name in LABS] + [BRAINWIDE, f"{BRAINWIDE},ibl_repeated_site",
                                                      "ibl_behaviour_pilot"]
    lab_code = 1 + pd.Index(list(LABS)).get_indexer(lab)
    u = rng.random(n)
    code = np.where(stage == 4, np.where(u < 0.8, len(LABS) + 1, len(LABS) + 2), lab_code)
    code = np.where((stage != 4) & (u < 0.1), len(LABS) + 3, code)
    code[u > 0.93] = 0
    return _strings(pool, code)


def _session_extra(rng: np.random.Generator, sessions: pd.DataFrame, subjects: pd.DataFrame,
                   subj_i: np.ndarray, start: np.ndarray, stage: np.ndarray, offset: np.ndarray
                   ) -> pd.DataFrame:
    """What only the REST detail shows: narrative, QC, trials, users, times, procedures..."""
    n = len(sessions)
    qc_code = rng.choice(5, n, p=[0.25, 0.4, 0.15, 0.15, 0.05])
    has_trials = stage >= 1
    n_trials = np.where(stage == 1, rng.integers(80, 400, n), rng.integers(300, 1100, n))
    learn = np.clip(0.45 + offset / 200 + rng.normal(0, 0.08, n), 0.3, 0.97)
    n_correct = np.round(n_trials * learn).astype(np.int64)
    n_trials_s = pd.array(np.where(has_trials, n_trials, 0), dtype="Int64")
    n_trials_s[~has_trials] = pd.NA
    n_correct_s = pd.array(np.where(has_trials, n_correct, 0), dtype="Int64")
    n_correct_s[~has_trials] = pd.NA
    # as the real Alyx keeps a habituation session: its trials counted, none scored correct
    n_correct_s[stage == 1] = pd.NA
    duration = rng.integers(20 * 60, 100 * 60, n).astype("timedelta64[s]")
    narr = rng.integers(0, len(NARRATIVES), n)
    narr_on = rng.random(n) < 0.35
    lab = sessions["lab"].to_numpy()
    n_users = 1 + (rng.random(n) < 0.2)
    user_i = rng.integers(0, 3, n)
    passed = np.round(rng.beta(8, 2, n), 4)
    behav = (rng.random(n) < 0.8).astype(int)
    vid = rng.choice(QC_CATEGORIES[1:4], (n, 3)).tolist()
    rig = rng.integers(0, 3, n)
    ext, users, procs, locs = [], [], [], []
    histology_subject = subjects["histology"].to_numpy()[subj_i]
    last_of_subject = ~pd.Series(subj_i).duplicated(keep="first").to_numpy()  # newest first
    for i in range(n):
        names = LABS[lab[i]][4]
        users.append([names[(user_i[i] + k) % 3] for k in range(n_users[i])])
        ext.append(None if qc_code[i] == 0 else {
            "_task_passed_trial_checks": float(passed[i]), "behavior": int(behav[i]),
            "videoLeft": vid[i][0], "videoRight": vid[i][1], "videoBody": vid[i][2],
            "task": QC_CATEGORIES[qc_code[i]], "_task_iti_delays": float(round(passed[i] - .05, 4)),
        })
        p = ["Behavior training/tasks"]
        if stage[i] == 4:
            p.append("Ephys recording with acute probe(s)")
        if histology_subject[i] and last_of_subject[i]:
            p.append("Histology")
        procs.append(p)
        kind = "ephys" if stage[i] == 4 else "behavior"
        locs.append(f"_iblrig_{lab[i]}_{kind}_{rig[i]}")
    return pd.DataFrame({
        "narrative": np.where(narr_on, np.array(NARRATIVES, dtype=object)[narr], ""),
        "qc": pd.Categorical.from_codes(qc_code, categories=QC_CATEGORIES, ordered=True),
        "extended_qc": pd.Series(ext, dtype=object, index=sessions.index),
        "n_trials": n_trials_s, "n_correct_trials": n_correct_s,
        "performance": np.where(has_trials & (stage != 1),
                                100 * n_correct / np.maximum(n_trials, 1), np.nan),
        "users": pd.Series(users, dtype=object, index=sessions.index),
        "start_time": start, "end_time": start + duration,
        "procedures": pd.Series(procs, dtype=object, index=sessions.index),
        "type": "Experiment", "location": locs,
    }, index=sessions.index)


def make_datasets(rng: np.random.Generator, eids: pd.Index, kind: np.ndarray
                   ) -> tuple[pd.DataFrame, dict[str, tuple[int, int]], np.ndarray, np.ndarray]:
    """Dataset rows from the per-kind templates, grouped by session, with some revisions."""
    t = flat_templates()
    lens = t.length[kind]
    total = int(lens.sum())
    sess = np.repeat(np.arange(len(kind)), lens)
    out_start = np.concatenate([[0], np.cumsum(lens)[:-1]])
    tpl = np.repeat(t.start[kind], lens) + np.arange(total) - np.repeat(out_start, lens)
    # A few optional datasets are missing from some sessions.
    keep = rng.random(total) > 0.03
    sess, tpl = sess[keep], tpl[keep]
    # Some sessions' ALF datasets were re-extracted into one or two revisions.
    n_sess = len(kind)
    rev_level = np.where(rng.random(n_sess) < 0.08, 1 + (rng.random(n_sess) < 0.3), 0)
    levels = np.where(t.revisable[tpl], rev_level[sess], 0)
    # rank 0: no revision; 1: the older REVISIONS[0]; 2: the newest REVISIONS[-1].
    sel1, sel2 = levels >= 1, levels >= 2
    sess = np.concatenate([sess, sess[sel1], sess[sel2]])
    tpl = np.concatenate([tpl, tpl[sel1], tpl[sel2]])
    rank = np.concatenate([np.zeros(len(levels), np.int8), np.full(int(sel1.sum()), 2, np.int8),
                           np.ones(int(sel2.sum()), np.int8)])
    order = np.lexsort((rank, tpl, sess))
    sess, tpl, rank = sess[order], tpl[order], rank[order]
    rev_name_i = rank.astype(np.int64) - 1  # index into REVISIONS, -1 for none
    n = len(sess)
    # The newest copy of each (session, template row) is the default revision.
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = (sess[1:] != sess[:-1]) | (tpl[1:] != tpl[:-1])
    pool, code = _rel_path_codes(t, tpl, rev_name_i)
    sizes = np.round(t.size[tpl] * rng.lognormal(0, 0.3, n)).astype(np.uint64)
    qc = rng.choice(5, n, p=[0.45, 0.45, 0.05, 0.04, 0.01])
    exists = rng.random(n) > 0.005
    ids = _uuids(rng, n)
    md5 = _md5s(rng, n)
    index = pd.MultiIndex(levels=[eids, ids], codes=[sess, np.arange(n)], names=["eid", "id"],
                          verify_integrity=False)
    df = pd.DataFrame({
        "rel_path": _strings(pool, code),
        "file_size": pd.array(sizes, dtype="UInt64"),
        "hash": md5,
        "exists": exists,
        "qc": pd.Categorical.from_codes(qc, categories=QC_CATEGORIES, ordered=True),
        "default_revision": is_last,
    }, index=index)
    bounds = np.searchsorted(sess, np.arange(n_sess + 1))
    slices = {eid: (int(bounds[i]), int(bounds[i + 1])) for i, eid in enumerate(eids)}
    return df, slices, t.probe[tpl], sess


def _rel_path_codes(t: Template, tpl: np.ndarray, rev_i: np.ndarray
                    ) -> tuple[list[str], np.ndarray]:
    """rel_path strings as (pool, codes): one pool entry per template row and revision."""
    n_tpl = len(t.name)
    pool = []
    for r in [None, *REVISIONS]:
        for c, nm in zip(t.collection, t.name, strict=True):
            parts = [p for p in (c, f"#{r}#" if r else "", nm) if p]
            pool.append("/".join(parts))
    return pool, tpl + n_tpl * (rev_i + 1)


def make_insertions(rng: np.random.Generator, sess: pd.DataFrame, extra: pd.DataFrame,
                     datasets: pd.DataFrame, ds_probe: np.ndarray, ds_sess: np.ndarray,
                     n_probes: np.ndarray, subjects: pd.DataFrame
                     ) -> tuple[pd.DataFrame, list[list[str]]]:
    """Probe insertions of ephys sessions; histology subjects get brain regions."""
    s_idx = np.repeat(np.arange(len(sess)), n_probes)
    probe = np.concatenate([np.arange(k) for k in n_probes]) if len(s_idx) else s_idx
    m = len(s_idx)
    pids = _uuids(rng, m)
    dates = sess["date"].to_numpy()[s_idx]
    cut_3a, cut_np2 = dt.date(2019, 6, 1), dt.date(2023, 6, 1)
    model = np.array(["3A" if d < cut_3a else "NP2.1" if d >= cut_np2 else "3B2" for d in dates],
                     dtype=object)
    serial = rng.integers(18_000_000_000, 19_999_999_999, m)
    qc = rng.choice(QC_CATEGORIES[1:], m, p=[0.5, 0.2, 0.2, 0.1]).tolist()
    n_units = rng.integers(50, 900, m)
    histo = subjects.loc[sess["subject"].to_numpy()[s_idx], "histology"].to_numpy()
    n_regions = rng.integers(3, 8, m)
    # Dataset ids per (session, probe), without a Python loop over datasets.
    key = ds_sess.astype(np.int64) * 4 + ds_probe
    on_probe = ds_probe >= 0
    ids = datasets.index.get_level_values(1)
    order = np.argsort(key[on_probe], kind="stable")
    k_sorted = key[on_probe][order]
    id_sorted = np.asarray(ids[on_probe], dtype=object)[order]
    want = s_idx.astype(np.int64) * 4 + probe
    lo, hi = np.searchsorted(k_sorted, want), np.searchsorted(k_sorted, want, side="right")
    starts = np.datetime_as_string(extra["start_time"].to_numpy()[s_idx], unit="us")
    ds_ids = [list(id_sorted[a:b]) for a, b in zip(lo, hi, strict=True)]
    records: list[dict[str, Any]] = []
    acronyms: list[list[str]] = [[] for _ in range(len(sess))]
    for j in range(m):
        regions = sorted(rng.choice(LEAF_REGIONS, n_regions[j], replace=False).tolist()) \
            if histo[j] else []
        acronyms[s_idx[j]].extend(r for r in regions if r not in acronyms[s_idx[j]])
        records.append({
            "model": model[j], "name": f"probe{probe[j]:02d}",
            "json": {"qc": qc[j], "n_units": int(n_units[j]),
                     "extended_qc": {"tracing_exists": bool(histo[j]),
                                     "alignment_resolved": bool(histo[j] and j % 3 != 0)},
                     "brain_regions": regions},
            "serial": str(serial[j]), "datasets": ds_ids[j], "auto_datetime": starts[j],
            "chronic_insertion": None,
        })
    index = pd.MultiIndex.from_arrays([sess.index[s_idx], pids], names=["eid", "id"])
    cols = ["model", "name", "json", "serial", "datasets", "auto_datetime", "chronic_insertion"]
    return pd.DataFrame(records, index=index, columns=cols), acronyms


# --- ids ----------------------------------------------------------------------------------------
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex(raw: np.ndarray) -> np.ndarray:
    """(n, k) uint8 -> (n, 2k) uint8 ASCII hex digits."""
    return np.stack([_HEX[raw >> 4], _HEX[raw & 15]], axis=2).reshape(len(raw), -1)


def _uuids(rng: np.random.Generator, n: int) -> pd.Index:
    """``n`` version-4 UUID strings drawn from ``rng`` (vectorised, arrow-backed)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = _hex(raw)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst in ((0, 0), (8, 9), (12, 14), (16, 19), (20, 24)):
        width = {0: 8, 20: 12}.get(src, 4)
        out[:, dst:dst + width] = h[:, src:src + width]
    return pd.Index(_ascii_to_arrow(out), dtype="str")


def _md5s(rng: np.random.Generator, n: int) -> pd.array:
    return pd.array(_ascii_to_arrow(_hex(rng.integers(0, 256, size=(n, 16), dtype=np.uint8))),
                    dtype="str")


def _ascii_to_arrow(chars: np.ndarray) -> pa.Array:
    width = chars.shape[1]
    return pa.array(np.ascontiguousarray(chars).view(f"S{width}").ravel()).cast(pa.string())


def _strings(pool: list[str], codes: np.ndarray) -> pd.array:
    """Strings ``pool[codes]`` as an arrow-backed str array, without a Python loop."""
    dictionary = pa.array(pool, type=pa.string())
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), dictionary)
    return pd.array(arr.cast(pa.string()), dtype="str")

