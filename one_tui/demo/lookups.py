"""Query-parameter parsing and the dataset index the demo's filters share.

Exists so that how a filter value is read (Alyx's 400s and 500s for bad values), which model
fields Alyx names, and the per-row codes that make filters fast over 1.5M datasets change in one
place, apart from the filters themselves (``demo/query.py``) and the endpoints
(``demo/router.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import numpy as np
import pandas as pd

from one_tui.demo.atlas import ATLAS_INFO
from one_tui.demo.catalogue import dataset_type_of, split_rel_path
from one_tui.demo.filters import BadValue, FilterError
from one_tui.demo.synth import SyntheticDB
from one_tui.engine.core.spec import QC, QC_CATEGORIES

#: The QC names in the order Alyx declares its QC enum: the order of the choices its 500 lists.
QC_CHOICES = ", ".join(q.name for q in (QC.CRITICAL, QC.FAIL, QC.WARNING, QC.NOT_SET, QC.PASS))
#: Each QC category code's (0-4, the tables' order) enum value: 0, 10, 30, 40, 50.
QC_VALUE_OF_CODE = np.array([q.value for q in QC])


#: The model fields Alyx 3.6.1 names when a ``django`` filter has an unknown keyword.
SESSION_MODEL_FIELDS = [
    "auto_datetime", "data_dataset_session_related", "end_time", "extended_qc", "field_of_view",
    "id", "json", "lab", "lab_id", "location", "location_id", "n_correct_trials", "n_trials",
    "name", "narrative", "number", "parent_session", "parent_session_id", "probe_insertion",
    "procedures", "projects", "qc", "session", "start_time", "subject", "subject_id",
    "task_protocol", "tasks", "type", "users", "wateradmin_session_related",
]
INSERTION_MODEL_FIELDS = [
    "auto_datetime", "chronic_insertion", "chronic_insertion_id", "datasets", "id", "json",
    "model", "model_id", "name", "serial", "session", "session_id", "trajectory_estimate",
]
DATASET_MODEL_FIELDS = [
    "auto_datetime", "collection", "content_object", "content_type", "content_type_id",
    "created_by", "created_by_id", "created_datetime", "data_dataset_provenance_related",
    "data_format", "data_format_id", "data_notices", "dataset_type", "dataset_type_id",
    "default_dataset", "download", "field_of_view", "file_records", "file_size",
    "generating_software", "hash", "id", "json", "md5", "name", "object_id", "probe_insertion",
    "protected", "provenance_directory", "provenance_directory_id", "public", "qc", "revision",
    "revision_id", "session", "session_id", "tags", "version",
]


def _code(qc: QC) -> int:
    """The category code (0-4) of a level: its position in the tables' QC categories."""
    return QC_CATEGORIES.index(qc.name)


def qc_bound(value: str) -> int:
    """Category code (0-4) as ONE's ``QC.validate`` (what Alyx's dataset QC filters call)."""
    if value.isnumeric():
        number = int(value)  # as on Alyx, '²' is numeric but int() refuses it: a 500
        try:
            return _code(QC(number))
        except ValueError:
            raise FilterError(f"{number} is not a valid QC") from None
    try:
        return _code(QC[value.upper()])
    except KeyError:
        raise FilterError(f"{value} is not a valid QC") from None


def qc_code(name: str, param: str = "qc") -> int:
    """Category code (0-4) of a QC name or enum value; Alyx's 500 text otherwise."""
    text = name.strip().upper()
    if text in QC.__members__:
        return _code(QC[text])
    by_value = {str(q.value): q for q in QC}
    if text in by_value:
        return _code(by_value[text])
    raise FilterError(f"Invalid{param}, choices are: {QC_CHOICES}")


def int_param(params: dict[str, str], name: str) -> int | None:
    v = params.get(name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise BadValue(name, "Enter a number.") from None


def float_param(params: dict[str, str], name: str) -> float | None:
    v = params.get(name)
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        raise BadValue(name, "Enter a number.") from None


def bool_param(value: str, rest: bool = False) -> bool | None:
    """A boolean filter value as Django reads it; None means "not a boolean": no filter at all.

    Filters declared as ``django_filters.BooleanFilter`` (``histology``, datasets' ``exists``)
    take only ``True``/``true``/``False``/``false`` (``NullBooleanSelect``); the ones generated
    from a model field (``rest``: ``default_dataset``) also take ``1``/``0``, in any case.
    """
    if rest:
        return {"1": True, "true": True, "0": False, "false": False}.get(value.lower())
    return {"True": True, "true": True, "2": True, "False": False, "false": False,
            "3": False}.get(value)


def date_param(value: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(dt.date.fromisoformat(value.strip()))
    except ValueError:  # Django's ValidationError, as str() shows its message list
        raise FilterError(f"['“{value}” value has an invalid date format. It must be in "
                          "YYYY-MM-DD format.']") from None


def atlas_param(param: str, params: dict[str, str]) -> set[str]:
    """Lower-case acronyms an atlas filter selects (their subtrees are matched by the caller):
    ``atlas_acronym`` iexact, ``atlas_id`` the Allen id (a number, else 400), ``atlas_name``
    icontains."""
    if param == "atlas_id":
        value = float_param(params, "atlas_id")
        return {a.lower() for a, (pk, _) in ATLAS_INFO.items() if pk == value}
    if param == "atlas_name":
        low = params[param].lower()
        return {a.lower() for a, (_, name) in ATLAS_INFO.items() if low in name.lower()}
    return {params[param].lower()}


def uuid_param(params: dict[str, str], name: str) -> str | None:
    """A UUID filter (``id``, ``session``): lower-case text, or Django's 400."""
    v = params.get(name)
    if v is None:
        return None
    try:
        return str(uuid.UUID(v))
    except ValueError:
        raise BadValue(name, "Enter a valid UUID.") from None


# --- the dataset index: per-row codes for fast filters over 1.5M rows ---------------------------
class DatasetIndex:
    """Codes per dataset row (session position, path) and per unique path (name, type...)."""

    def __init__(self, db: SyntheticDB) -> None:
        d = db.datasets
        level0 = db.sessions.index.get_indexer(d.index.levels[0])
        self.sess = level0[d.index.codes[0]].astype(np.int64)
        codes, uniques = pd.factorize(d["rel_path"])
        self.path: np.ndarray = codes
        parts = [split_rel_path(p) for p in uniques]
        self.collection = pd.Series([p[0] for p in parts], dtype="str")
        self.revision = pd.Series([p[1] for p in parts], dtype="str")
        self.name = pd.Series([p[2] for p in parts], dtype="str")
        self.dataset_type = pd.Series([dataset_type_of(p[2]) for p in parts], dtype="str")
        self.probe = np.array([_probe_number(p[0]) for p in parts], dtype=np.int64)[codes]
        self.qc: np.ndarray = d["qc"].cat.codes.to_numpy()
        self.exists: np.ndarray = d["exists"].to_numpy()
        self.ids = d.index.get_level_values(1)
        self.n_sessions = len(db.sessions)

    def rows_where(self, unique_mask: np.ndarray) -> np.ndarray:
        """Row mask from a mask over the unique paths."""
        rows: np.ndarray = unique_mask[self.path]
        return rows

    def sessions_with_all(self, per_item: list[np.ndarray], key: np.ndarray, n: int
                          ) -> np.ndarray:
        """Keys (session or insertion) having rows in every one of the ``per_item`` row masks."""
        out = np.ones(n, dtype=bool)
        for rows in per_item:
            hit = np.zeros(n, dtype=bool)
            k = key[rows]
            hit[k[k >= 0]] = True
            out &= hit
        return out

    def type_masks(self, types: str) -> list[np.ndarray]:
        return [self.rows_where((self.dataset_type == t).to_numpy()) for t in types.split(",")]

    def name_masks(self, names: str, qc_lte: int) -> list[np.ndarray]:
        ok = self.exists & (self.qc <= qc_lte)
        return [self.rows_where((self.name == n).to_numpy()) & ok for n in names.split(",")]


def _probe_number(collection: str) -> int:
    m = re.search(r"probe(\d\d)", collection)
    return int(m.group(1)) if m else -1
