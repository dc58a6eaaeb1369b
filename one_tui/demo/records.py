"""The JSON records Alyx answers for the synthetic database: sessions, datasets, insertions.

Exists so that the shape of each REST record (its fields, their order, Alyx's quirks such as the
string ``default_revision`` in a session's datasets or the integer ``qc`` in an insertion's)
changes in one place, apart from what the database holds (``demo/synth.py``) and from which rows
a query selects (``demo/query.py``). The router (``demo/router.py``) calls these with the base
URL the client used, for the ``url`` fields.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from one_tui.demo.catalogue import (
    DATA_SERVER,
    LABS,
    REVISIONS,
    dataset_type_of,
    split_projects,
    split_rel_path,
)
from one_tui.demo.synth import SyntheticDB
from one_tui.engine.core.spec import QC

__all__ = ["session_list", "session_detail", "dataset_list", "insertion_list", "insertion",
           "revisions", "dataset_types", "labs", "projects", "subjects", "users"]

Record = dict[str, Any]
_NS = uuid.UUID("6f1b4a4e-3c57-4b0e-9a8e-0d6c1d2f7a10")  # ids of the small lists' records
#: (lab, subject, date, number): where a session's files live
Ref = tuple[str, str, dt.date, int]


def session_list(db: SyntheticDB, eids: Sequence[str] | pd.Index, base_url: str
                 ) -> list[Record]:
    """Alyx's 8-field session list records, in the order of ``eids``."""
    s = db.sessions.loc[eids]
    start = db.session_extra.loc[eids, "start_time"]
    return [
        {"id": eid, "subject": subj, "start_time": _iso(st), "number": int(num), "lab": lab,
         "projects": split_projects(proj), "url": f"{base_url}/sessions/{eid}",
         "task_protocol": tp}
        for eid, subj, st, num, lab, proj, tp in zip(
            s.index, s["subject"], start, s["number"], s["lab"], s["projects"],
            s["task_protocol"], strict=True)
    ]


def session_detail(db: SyntheticDB, eid: str, base_url: str) -> Record:
    """Alyx's session detail record, incl. data_dataset_session_related quirks."""
    lab, subject, date, number = db.session_ref(eid)
    row = db.sessions.loc[eid]
    ex = db.session_extra.loc[eid]
    ds = db.session_datasets(eid)
    ds = ds[ds["exists"].to_numpy()]
    related = [
        {**_dataset_brief(did, r, base_url, (lab, subject, date, number)),
         "revision": split_rel_path(r.rel_path)[1],
         "default_revision": str(bool(r.default_revision)), "qc": r.qc}
        for did, r in zip(ds.index, ds.itertuples(index=False), strict=True)
    ]
    pids = db.insertions.loc[[eid]].index.get_level_values(1) \
        if eid in db.insertions.index.get_level_values(0) else []
    return {
        "subject": subject, "users": list(ex["users"]), "location": ex["location"],
        "procedures": list(ex["procedures"]), "lab": lab,
        "projects": split_projects(row["projects"]), "type": ex["type"],
        "task_protocol": row["task_protocol"], "number": number,
        "start_time": _iso(ex["start_time"]), "end_time": _iso(ex["end_time"]),
        "narrative": ex["narrative"], "parent_session": None,
        "n_correct_trials": _int_or_none(ex["n_correct_trials"]),
        "n_trials": _int_or_none(ex["n_trials"]), "url": f"{base_url}/sessions/{eid}",
        "extended_qc": ex["extended_qc"], "qc": ex["qc"], "wateradmin_session_related": [],
        "data_dataset_session_related": related,
        "auto_datetime": _iso(ex["end_time"] + pd.Timedelta(hours=2)), "id": eid,
        "json": None,
        "probe_insertion": [insertion(db, eid, pid, base_url) for pid in pids],
        "field_of_view": [], "notes": [],
    }


def dataset_list(db: SyntheticDB, rows: np.ndarray, base_url: str) -> list[Record]:
    """Alyx's /datasets records of the rows at positions ``rows``, in that order."""
    part = db.datasets.iloc[rows]
    eids = part.index.get_level_values(0)
    s = db.sessions.loc[eids]
    ex = db.session_extra.loc[eids]
    return [
        _dataset(did, eid, r, (lab, subj, date, int(num)), users[0], end, base_url)
        for did, eid, r, lab, subj, date, num, users, end in zip(
            part.index.get_level_values(1), eids, part.itertuples(index=False), s["lab"],
            s["subject"], s["date"], s["number"], ex["users"], ex["end_time"], strict=True)
    ]


def insertion_list(db: SyntheticDB, keys: list[tuple[str, str]], base_url: str
                   ) -> list[Record]:
    """Alyx's /insertions list records of the ``(eid, pid)`` pairs, in that order."""
    ins = db.insertions.loc[keys]
    eids = ins.index.get_level_values(0)
    s = db.sessions.loc[eids]
    starts = db.session_extra.loc[eids, "start_time"]
    return [
        {"id": pid, "session": eid, "model": r.model,
         "session_info": {"subject": subj, "start_time": _iso(st), "number": int(num),
                          "lab": lab, "id": eid, "projects": split_projects(proj),
                          "task_protocol": tp},
         "name": r.name, "json": r.json, "serial": r.serial, "auto_datetime": r.auto_datetime,
         "chronic_insertion": None, "datasets": list(r.datasets)}
        for (eid, pid), r, subj, st, num, lab, proj, tp in zip(
            ins.index, ins.itertuples(index=False), s["subject"], starts, s["number"],
            s["lab"], s["projects"], s["task_protocol"], strict=True)
    ]


def insertion(db: SyntheticDB, eid: str, pid: str, base_url: str, detail: bool = False
              ) -> Record:
    """Alyx's /insertions record; the detail nests datasets with an **integer** qc."""
    rec = insertion_list(db, [(eid, pid)], base_url)[0]
    ins = db.insertions.loc[(eid, pid)]
    if detail:
        ref = db.session_ref(eid)
        ds = db.session_datasets(eid).loc[list(ins["datasets"])]
        rec["datasets"] = [
            {**_dataset_brief(did, r, base_url, ref), "qc": QC[r.qc].value}
            for did, r in zip(ds.index, ds.itertuples(index=False), strict=True)
        ]
    return rec


# --- the small lists (every record, filtered by the router) --------------------------------------
def revisions() -> list[Record]:
    return [{"id": str(uuid.uuid5(_NS, r)), "json": None, "name": r,
             "description": f"Re-extraction of {r}", "created_datetime": f"{r}T12:00:00"}
            for r in sorted(REVISIONS)]


def dataset_types(names: list[str]) -> list[Record]:
    return [{"id": str(uuid.uuid5(_NS, t)), "name": t, "created_by": None, "description": "",
             "filename_pattern": f"*{t}.*"} for t in names]


def labs(db: SyntheticDB) -> list[Record]:
    return [dict(r) for r in db.labs.to_dict("records")]


def projects(db: SyntheticDB) -> list[Record]:
    return [{"name": p, "description": "", "users": []} for p in db.projects]


def subjects(db: SyntheticDB, session_view: pd.DataFrame, base_url: str) -> list[Record]:
    """Subjects with the projects of their sessions (``session_view``: the query's view)."""
    s = db.subjects.reset_index(drop=True).sort_values("nickname")
    by_subject = session_view.groupby("subject")["projects_list"].agg(
        lambda x: sorted({p for ps in x for p in ps}))
    return [{
        "nickname": r["nickname"], "url": f"{base_url}/subjects/{r['nickname']}", "id": r["id"],
        "responsible_user": r["responsible_user"], "birth_date": str(r["birth_date"]),
        "age_weeks": 0, "death_date": None, "species": r["species"], "sex": r["sex"],
        "litter": None, "strain": r["strain"], "source": None, "line": None,
        "projects": by_subject.get(r["nickname"], []), "session_projects":
            by_subject.get(r["nickname"], []), "lab": r["lab"], "genotype": [],
        "description": "", "alive": False, "reference_weight": 22.0,
        "last_water_restriction": None, "expected_water": 0.0, "remaining_water": 0.0,
        "json": None,
    } for r in s.to_dict("records")]


def users(db: SyntheticDB, accounts: list[str]) -> list[Record]:
    """The lab members: the database's users and the server's accounts."""
    lab_of: dict[str, list[str]] = {}
    for lab, info in LABS.items():
        for u in info[4]:
            lab_of.setdefault(u, []).append(lab)
    names = sorted(set(db.users) | set(accounts))
    return [{"id": str(uuid.uuid5(_NS, "user:" + u)), "username": u,
             "email": f"{u}@example.org", "subjects_responsible": [], "lab": lab_of.get(u, []),
             "allowed_users": [], "is_stock_manager": False} for u in names]


def _dataset_brief(did: str, r: Any, base_url: str, ref: Ref) -> Record:
    collection, _, name = split_rel_path(r.rel_path)
    return {
        "id": did, "name": name, "dataset_type": dataset_type_of(name),
        "data_url": _data_url(ref, r.rel_path, did), "url": f"{base_url}/datasets/{did}",
        "file_size": _int_or_none(r.file_size), "hash": r.hash, "version": "1.0.0",
        "collection": collection,
    }


def _dataset(did: str, eid: str, r: Any, ref: Ref, created_by: str, end_time: Any,
             base_url: str) -> Record:
    collection, revision, name = split_rel_path(r.rel_path)
    lab, subject, date, number = ref
    rel = f"{subject}/{date}/{number:03d}/{r.rel_path}"
    created = _iso(end_time + pd.Timedelta(hours=1))
    return {
        "url": f"{base_url}/datasets/{did}", "name": name, "created_by": created_by,
        "created_datetime": created, "dataset_type": dataset_type_of(name),
        "data_format": name.rsplit(".", 1)[-1], "collection": collection,
        "session": f"{base_url}/sessions/{eid}", "file_size": _int_or_none(r.file_size),
        "hash": r.hash, "version": "1.0.0", "experiment_number": number,
        "file_records": [
            {"id": str(uuid.uuid5(uuid.UUID(did), "flatiron")),
             "data_repository": f"flatiron_{lab}", "data_repository_path": f"/{lab}/Subjects/",
             "relative_path": rel, "data_url": _data_url(ref, r.rel_path, did),
             "exists": bool(r.exists)},
            {"id": str(uuid.uuid5(uuid.UUID(did), "local")),
             "data_repository": f"{lab}_SR", "data_repository_path": "/mnt/s0/Data/Subjects/",
             "relative_path": rel, "data_url": None, "exists": False},
        ],
        "auto_datetime": created, "revision": revision,
        "default_dataset": bool(r.default_revision), "protected": 0, "public": 1, "tags": [],
        "qc": r.qc, "json": None,
    }


def _iso(ts: Any) -> str:
    return str(pd.Timestamp(ts).isoformat())


def _int_or_none(v: Any) -> int | None:
    return None if pd.isna(v) else int(v)


def _data_url(ref: Ref, rel_path: str, did: str) -> str:
    """The file server URL, with the dataset UUID before the extension (as Alyx builds it)."""
    lab, subject, date, number = ref
    stem, ext = rel_path.rsplit(".", 1)
    return f"{DATA_SERVER}/{lab}/Subjects/{subject}/{date}/{number:03d}/{stem}.{did}.{ext}"
