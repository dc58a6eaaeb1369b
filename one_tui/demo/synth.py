"""A deterministic, synthetic IBL-like Alyx database for the demo server, tests and benchmarks.

Everything derives from ``numpy.random.default_rng(seed)`` (UUIDs included), so the same
``(n_sessions, seed)`` always gives identical tables. Dataset rows are generated with vectorised
numpy from per-protocol templates: no Python loop per dataset, so 20,000 sessions (~1.5M datasets)
build in seconds. Nothing here imports textual or rich.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from one_tui.engine.local.filewrite import save_table

__all__ = [
    "QC_NAMES",
    "QC_VALUES",
    "LABS",
    "REVISIONS",
    "DATA_SERVER",
    "SyntheticDB",
    "generate",
    "dataset_type_of",
    "atlas_ancestors",
    "ATLAS_INFO",
]

#: QC names in ONE's order (category codes 0-4) and their enum values (one.alf.spec.QC).
QC_NAMES: list[str] = ["NOT_SET", "PASS", "WARNING", "FAIL", "CRITICAL"]
QC_VALUES: dict[str, int] = {"NOT_SET": 0, "PASS": 10, "WARNING": 30, "FAIL": 40, "CRITICAL": 50}

#: Where file records point (the IBL's public HTTP file server); the demo serves no files.
DATA_SERVER = "https://ibl.flatironinstitute.org"
MIN_API_VERSION = "2.10"

# lab name -> (institution, timezone, nickname format, first nickname number, usernames)
LABS: dict[str, tuple[str, str, str, int, tuple[str, ...]]] = {
    "cortexlab": ("University College London", "Europe/London", "KS{:03d}", 1,
                  ("miles", "julien", "sebastian")),
    "mainenlab": ("Champalimaud Centre for the Unknown", "Europe/Lisbon", "ZFM-{:05d}", 1200,
                  ("zm", "ines", "nate")),
    "zadorlab": ("Cold Spring Harbor Laboratory", "America/New_York", "CSH_ZAD_{:03d}", 1,
                 ("anup", "alex", "ibl_zador")),
    "churchlandlab": ("Cold Spring Harbor Laboratory", "America/New_York", "CSHL{:03d}", 1,
                      ("anne", "ashley", "gaelle")),
    "hoferlab": ("Sainsbury Wellcome Centre", "Europe/London", "SWC_{:03d}", 1,
                 ("sofia", "isaac", "guido")),
    "mrsicflogellab": ("Sainsbury Wellcome Centre", "Europe/London", "SWC_{:03d}", 5001,
                       ("mayo", "karolina", "jiaxin")),
    "angelakilab": ("New York University", "America/New_York", "NYU-{:02d}", 1,
                    ("charu", "jean-paul", "dora")),
    "danlab": ("University of California, Berkeley", "America/Los_Angeles", "DY_{:03d}", 1,
               ("yang", "christopher", "karolina_d")),
    "wittenlab": ("Princeton University", "America/New_York", "ibl_witten_{:02d}", 1,
                  ("ilana", "felicia", "nicole")),
    "steinmetzlab": ("University of Washington", "America/Los_Angeles", "NR_{:04d}", 1,
                     ("nick", "kai", "anna")),
    "hausserlab": ("University College London", "Europe/London", "PL{:03d}", 1,
                   ("peter", "nathaniel", "michael")),
    "churchlandlab_ucla": ("University of California, Los Angeles", "America/Los_Angeles",
                           "UCLA{:03d}", 1, ("chris", "joao", "matt")),
}

PROTOCOLS = {
    "habituation": "_iblrig_tasks_habituationChoiceWorld6.4.2",
    "training": "_iblrig_tasks_trainingChoiceWorld6.4.2",
    "biased": "_iblrig_tasks_biasedChoiceWorld6.4.2",
    "ephys": "_iblrig_tasks_ephysChoiceWorld6.4.2",
    "none": "",
}
#: Revisions some sessions' ALF datasets were re-extracted into, oldest first.
REVISIONS: list[str] = ["2022-11-07", "2024-05-06"]
BRAINWIDE = "ibl_neuropixel_brainwide_01"
NARRATIVES = [
    "Mouse was licking well, good session.",
    "Slight bias to the left; increased reward volume to 3 uL.",
    "Craniotomy clean. Probe went in smoothly, little drift.",
    "Camera froze for ~2 min at the start.",
    "Mouse disengaged after ~400 trials.",
    "Water given in cage after session (0.4 mL).",
]

# --- the atlas: a piece of the Allen CCF 2017 hierarchy (child -> parent) ----------------------
# Every level between a recorded region and the root is kept, with Allen's ids and names (as in
# Alyx's brain-region fixture), so that atlas_acronym / atlas_id / atlas_name match the same
# subtrees as on Alyx (e.g. VISa is under PTLp, not VIS).
ATLAS_PARENTS: dict[str, str] = {
    "APN": "PRT", "BS": "grey", "CA": "HIP", "CA1": "CA", "CA3": "CA", "CH": "grey", "CNU": "CH",
    "CP": "STRd", "CTX": "CH", "CTXpl": "CTX", "DG": "HIP", "DG-mo": "DG", "DG-po": "DG",
    "DG-sg": "DG", "DORpm": "TH", "DORsm": "TH", "GENd": "DORsm", "HIP": "HPF", "HPF": "CTXpl",
    "IB": "BS", "Isocortex": "CTXpl", "LAT": "DORpm", "LGd": "GENd", "LP": "LAT", "MB": "BS",
    "MBmot": "MB", "MO": "Isocortex", "MOs": "MO", "MOs5": "MOs", "MOs6a": "MOs", "MRN": "MBmot",
    "PO": "LAT", "PRT": "MBmot", "PTLp": "Isocortex", "SCm": "MBmot", "SS": "Isocortex",
    "SSp": "SS", "SSp-bfd": "SSp", "SSp-bfd4": "SSp-bfd", "STR": "CNU", "STRd": "STR", "TH": "IB",
    "VENT": "DORsm", "VIS": "Isocortex", "VISa": "PTLp", "VISa5": "VISa", "VISam": "VIS",
    "VISam6a": "VISam", "VISp": "VIS", "VISp2/3": "VISp", "VISp4": "VISp", "VISp5": "VISp",
    "VISp6a": "VISp", "VP": "VENT", "VPM": "VP", "grey": "root",
}

ATLAS_INFO: dict[str, tuple[int, str]] = {
    "APN": (215, "Anterior pretectal nucleus"), "BS": (343, "Brain stem"),
    "CA": (375, "Ammon's horn"), "CA1": (382, "Field CA1"), "CA3": (463, "Field CA3"),
    "CH": (567, "Cerebrum"), "CNU": (623, "Cerebral nuclei"), "CP": (672, "Caudoputamen"),
    "CTX": (688, "Cerebral cortex"), "CTXpl": (695, "Cortical plate"),
    "DG": (726, "Dentate gyrus"), "DG-mo": (10703, "Dentate gyrus molecular layer"),
    "DG-po": (10704, "Dentate gyrus polymorph layer"),
    "DG-sg": (632, "Dentate gyrus granule cell layer"),
    "DORpm": (856, "Thalamus polymodal association cortex related"),
    "DORsm": (864, "Thalamus sensory-motor cortex related"),
    "GENd": (1008, "Geniculate group dorsal thalamus"), "HIP": (1080, "Hippocampal region"),
    "HPF": (1089, "Hippocampal formation"), "IB": (1129, "Interbrain"),
    "Isocortex": (315, "Isocortex"), "LAT": (138, "Lateral group of the dorsal thalamus"),
    "LGd": (170, "Dorsal part of the lateral geniculate complex"),
    "LP": (218, "Lateral posterior nucleus of the thalamus"), "MB": (313, "Midbrain"),
    "MBmot": (323, "Midbrain motor related"), "MO": (500, "Somatomotor areas"),
    "MOs": (993, "Secondary motor area"), "MOs5": (767, "Secondary motor area layer 5"),
    "MOs6a": (1021, "Secondary motor area layer 6a"), "MRN": (128, "Midbrain reticular nucleus"),
    "PO": (1020, "Posterior complex of the thalamus"), "PRT": (1100, "Pretectal region"),
    "PTLp": (22, "Posterior parietal association areas"),
    "SCm": (294, "Superior colliculus motor related"), "SS": (453, "Somatosensory areas"),
    "SSp": (322, "Primary somatosensory area"),
    "SSp-bfd": (329, "Primary somatosensory area barrel field"),
    "SSp-bfd4": (1047, "Primary somatosensory area barrel field layer 4"),
    "STR": (477, "Striatum"), "STRd": (485, "Striatum dorsal region"), "TH": (549, "Thalamus"),
    "VENT": (637, "Ventral group of the dorsal thalamus"), "VIS": (669, "Visual areas"),
    "VISa": (312782546, "Anterior area"), "VISa5": (312782562, "Anterior area layer 5"),
    "VISam": (394, "Anteromedial visual area"),
    "VISam6a": (1046, "Anteromedial visual area layer 6a"), "VISp": (385, "Primary visual area"),
    "VISp2/3": (821, "Primary visual area layer 2/3"),
    "VISp4": (721, "Primary visual area layer 4"), "VISp5": (778, "Primary visual area layer 5"),
    "VISp6a": (33, "Primary visual area layer 6a"),
    "VP": (709, "Ventral posterior complex of the thalamus"),
    "VPM": (733, "Ventral posteromedial nucleus of the thalamus"),
    "grey": (8, "Basic cell groups and regions"), "root": (997, "root"),
}


_LEAF_REGIONS = np.array(sorted(set(ATLAS_PARENTS) - set(ATLAS_PARENTS.values())))


def atlas_ancestors(acronym: str) -> list[str]:
    """The acronym and every region above it (Alyx's atlas filters match a region's subtree)."""
    out = [acronym]
    while out[-1] in ATLAS_PARENTS:
        out.append(ATLAS_PARENTS[out[-1]])
    return out


def dataset_type_of(name: str) -> str:
    """Alyx's dataset type of a file name: its ALF ``object.attribute`` (``_ibl_`` dropped)."""
    parts = name.split(".")
    stem = ".".join(parts[:2]) if len(parts) > 2 else parts[0]
    return stem[5:] if stem.startswith("_ibl_") else stem


# --- dataset templates ------------------------------------------------------------------------
# (collection, file name, typical size in bytes, revisable); "{p}" is the probe label.
_BEHAVIOUR = [
    ("", "_ibl_experiment.description.yaml", 1_200, False),
    ("raw_behavior_data", "_iblrig_taskData.raw.jsonable", 2_500_000, False),
    ("raw_behavior_data", "_iblrig_taskSettings.raw.json", 9_000, False),
    ("raw_behavior_data", "_iblrig_encoderEvents.raw.ssv", 400_000, False),
    ("raw_behavior_data", "_iblrig_encoderPositions.raw.ssv", 3_000_000, False),
    ("raw_behavior_data", "_iblrig_encoderTrialInfo.raw.ssv", 60_000, False),
    ("raw_behavior_data", "_iblrig_ambientSensorData.raw.jsonable", 120_000, False),
    ("raw_behavior_data", "_iblrig_codeFiles.raw.zip", 1_500_000, False),
    ("raw_behavior_data", "_iblrig_stimPositionScreen.raw.csv", 30_000, False),
]
_TRIALS = [
    ("alf", "_ibl_trials.table.pqt", 90_000, True),
    ("alf", "_ibl_trials.goCueTrigger_times.npy", 5_000, True),
    ("alf", "_ibl_trials.stimOff_times.npy", 5_000, True),
    ("alf", "_ibl_trials.stimOnTrigger_times.npy", 5_000, True),
    ("alf", "_ibl_trials.stimOffTrigger_times.npy", 5_000, True),
    ("alf", "_ibl_trials.quiescencePeriod.npy", 5_000, True),
    ("alf", "_ibl_trials.intervals_bpod.npy", 10_000, True),
    ("alf", "_ibl_trials.included.npy", 800, True),
    ("alf", "_ibl_wheel.position.npy", 4_000_000, True),
    ("alf", "_ibl_wheel.timestamps.npy", 4_000_000, True),
    ("alf", "_ibl_wheelMoves.intervals.npy", 40_000, True),
    ("alf", "_ibl_wheelMoves.peakAmplitude.npy", 20_000, True),
]


def _camera(cam: str) -> list[tuple[str, str, int, bool]]:
    return [
        ("raw_video_data", f"_iblrig_{cam}Camera.raw.mp4", 900_000_000, False),
        ("alf", f"_ibl_{cam}Camera.times.npy", 2_000_000, True),
        ("alf", f"_ibl_{cam}Camera.dlc.pqt", 30_000_000, True),
        ("alf", f"_ibl_{cam}Camera.features.pqt", 2_000_000, True),
        ("alf", f"{cam}Camera.ROIMotionEnergy.npy", 2_000_000, False),
        ("alf", f"{cam}ROIMotionEnergy.position.npy", 200, False),
    ]


_EPHYS_SESSION = [
    ("raw_ephys_data", "_spikeglx_sync.channels.npy", 300_000, False),
    ("raw_ephys_data", "_spikeglx_sync.polarities.npy", 300_000, False),
    ("raw_ephys_data", "_spikeglx_sync.times.npy", 300_000, False),
    ("raw_ephys_data", "_spikeglx_ephysData_g0_t0.nidq.cbin", 200_000_000, False),
    ("raw_ephys_data", "_spikeglx_ephysData_g0_t0.nidq.meta", 4_000, False),
    ("raw_ephys_data", "_spikeglx_ephysData_g0_t0.nidq.ch", 500, False),
    ("raw_ephys_data", "_spikeglx_ephysData_g0_t0.nidq.wiring.json", 600, False),
    ("alf", "_ibl_passiveGabor.table.csv", 8_000, False),
    ("alf", "_ibl_passivePeriods.intervalsTable.csv", 300, False),
    ("alf", "_ibl_passiveRFM.times.npy", 40_000, False),
    ("alf", "_ibl_passiveStims.table.csv", 3_000, False),
    ("raw_passive_data", "_iblrig_RFMapStim.raw.bin", 8_000_000, False),
    ("alf", "licks.times.npy", 30_000, False),
]
_RAW_PROBE = [
    "_spikeglx_ephysData_g0_t0.imec{i}.ap.cbin", "_spikeglx_ephysData_g0_t0.imec{i}.ap.meta",
    "_spikeglx_ephysData_g0_t0.imec{i}.ap.ch", "_spikeglx_ephysData_g0_t0.imec{i}.lf.cbin",
    "_spikeglx_ephysData_g0_t0.imec{i}.lf.meta", "_spikeglx_ephysData_g0_t0.imec{i}.lf.ch",
    "_spikeglx_ephysData_g0_t0.imec{i}.wiring.json", "_spikeglx_sync.channels.{p}.npy",
    "_spikeglx_sync.polarities.{p}.npy", "_spikeglx_sync.times.{p}.npy",
    "_iblqc_ephysSpectralDensityAP.freqs.npy", "_iblqc_ephysSpectralDensityAP.power.npy",
    "_iblqc_ephysSpectralDensityLF.freqs.npy", "_iblqc_ephysSpectralDensityLF.power.npy",
    "_iblqc_ephysTimeRmsAP.rms.npy", "_iblqc_ephysTimeRmsAP.timestamps.npy",
    "_iblqc_ephysTimeRmsLF.rms.npy", "_iblqc_ephysTimeRmsLF.timestamps.npy",
]
_SORTED_PROBE = [
    "spikes.times.npy", "spikes.clusters.npy", "spikes.amps.npy", "spikes.depths.npy",
    "spikes.samples.npy", "spikes.templates.npy", "clusters.channels.npy", "clusters.depths.npy",
    "clusters.metrics.pqt", "clusters.uuids.csv", "clusters.amps.npy",
    "clusters.peakToTrough.npy", "clusters.waveforms.npy", "clusters.waveformsChannels.npy",
    "channels.localCoordinates.npy", "channels.rawInd.npy",
    "channels.brainLocationIds_ccf_2017.npy", "channels.mlapdv.npy", "templates.waveforms.npy",
    "templates.waveformsChannels.npy", "templates.amps.npy", "_kilosort_whitening.matrix.npy",
    "_phy_spikes_subset.waveforms.npy", "_phy_spikes_subset.spikes.npy",
    "_phy_spikes_subset.channels.npy",
]
_SITES = ["electrodeSites.brainLocationIds_ccf_2017.npy", "electrodeSites.localCoordinates.npy",
          "electrodeSites.mlapdv.npy"]


def _probe(i: int) -> list[tuple[str, str, int, bool, int]]:
    """Datasets of probe ``i``: raw data, spike sorting and electrode sites (5th item: probe)."""
    p = f"probe{i:02d}"
    rows = [(f"raw_ephys_data/{p}", n.format(i=i, p=p), _size_hint(n), False, i)
            for n in _RAW_PROBE]
    rows += [(f"alf/{p}/pykilosort", n, _size_hint(n), True, i) for n in _SORTED_PROBE]
    rows += [(f"alf/{p}", n, 50_000, True, i) for n in _SITES]
    return rows


def _size_hint(name: str) -> int:
    if name.endswith(".ap.cbin"):
        return 60_000_000_000
    if name.endswith(".lf.cbin"):
        return 4_000_000_000
    if name.startswith("spikes.") or "waveforms" in name:
        return 80_000_000
    return 200_000


#: Template kinds; a session's kind follows its protocol (and probe count for ephys).
KINDS = ["none", "habituation", "training", "biased", "ephys1", "ephys2"]


def _templates() -> list[list[tuple[str, str, int, bool, int]]]:
    def np_(rows: list[tuple[str, str, int, bool]]) -> list[tuple[str, str, int, bool, int]]:
        return [(*r, -1) for r in rows]

    ephys = np_(_BEHAVIOUR + _TRIALS + _camera("left") + _camera("right") + _camera("body")
                + _EPHYS_SESSION)
    return [
        np_(_BEHAVIOUR[:4]),
        np_(_BEHAVIOUR),
        np_(_BEHAVIOUR + _TRIALS + _camera("left")),
        np_(_BEHAVIOUR + _TRIALS + _camera("left") + _camera("right")),
        ephys + _probe(0),
        ephys + _probe(0) + _probe(1),
    ]


@dataclass
class _Template:
    """All templates flattened into arrays, plus each kind's slice into them."""

    collection: np.ndarray
    name: np.ndarray
    size: np.ndarray
    revisable: np.ndarray
    probe: np.ndarray
    start: np.ndarray
    length: np.ndarray


def _flat_templates() -> _Template:
    kinds = _templates()
    rows = [r for k in kinds for r in k]
    lengths = np.array([len(k) for k in kinds])
    return _Template(
        collection=np.array([r[0] for r in rows], dtype=object),
        name=np.array([r[1] for r in rows], dtype=object),
        size=np.array([r[2] for r in rows], dtype=np.float64),
        revisable=np.array([r[3] for r in rows]),
        probe=np.array([r[4] for r in rows], dtype=np.int8),
        start=np.concatenate([[0], np.cumsum(lengths)[:-1]]),
        length=lengths,
    )


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


# --- the database -------------------------------------------------------------------------------
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

    # -- tables --
    def table_metadata(self, date_created: dt.datetime | None = None) -> dict[str, Any]:
        """The ``one_metadata`` Alyx's one_cache writes into each table."""
        when = date_created or self.date_created
        return {"date_created": when.strftime("%Y-%m-%d %H:%M"), "origin": self.origin,
                "min_api_version": MIN_API_VERSION}

    def write_tables(self, dir: str | Path,  # noqa: A002 (name from the contract)
                     date_created: dt.datetime | None = None,
                     existing_only: bool = False) -> list[Path]:
        """Write sessions.pqt, datasets.pqt and cache_info.json into ``dir``.

        ``existing_only`` keeps only datasets with an existing server file, as Alyx's one_cache
        does (its tables then have ``exists`` all True); by default every row is written.
        """
        folder = Path(dir)
        folder.mkdir(parents=True, exist_ok=True)
        meta = self.table_metadata(date_created)
        datasets = self.datasets[self.datasets["exists"].to_numpy()] if existing_only \
            else self.datasets
        paths = [folder / "sessions.pqt", folder / "datasets.pqt"]
        save_table(self.sessions, paths[0], meta)
        save_table(datasets, paths[1], meta)
        info = self.cache_info(date_created, sizes={p.stem: p.stat().st_size for p in paths},
                               n_datasets=len(datasets))
        info_path = folder / "cache_info.json"
        info_path.write_text(json.dumps(info, indent=1))
        return [*paths, info_path]

    def cache_info(self, date_created: dt.datetime | None = None,
                   sizes: dict[str, int] | None = None,
                   n_datasets: int | None = None) -> dict[str, Any]:
        """cache_info.json as one_cache writes it (and /cache/info/ returns)."""
        meta = self.table_metadata(date_created)
        sizes = sizes or {}
        n_datasets = len(self.datasets) if n_datasets is None else n_datasets
        return {
            **meta,
            "tables": {
                "sessions": {"nrecs": len(self.sessions), "size": sizes.get("sessions", 0)},
                "datasets": {"nrecs": n_datasets, "size": sizes.get("datasets", 0)},
            },
        }

    def cache_zip_bytes(self, date_created: dt.datetime | None = None) -> bytes:
        """cache.zip as Alyx's ``one_cache --compress --qc`` builds it: sessions.pqt,
        datasets.pqt (existing files only), QC.json, cache_info.json, in that order.

        The tables are written as one_cache writes them (``pa.Table.from_pandas`` of frames
        indexed by id: Alyx's column order, the index columns last, pandas metadata as pandas
        2 writes it, plus ``one_metadata``); cache_info's ``size`` is each table's parquet
        footer size, as one_cache reports it.
        """
        meta = self.table_metadata(date_created)
        datasets = self.datasets[self.datasets["exists"].to_numpy()]
        tables = {"sessions": _alyx_table(self.sessions, _SESSIONS_ORDER, meta),
                  "datasets": _alyx_table(datasets, _DATASETS_ORDER, meta)}
        out = io.BytesIO()
        info: dict[str, Any] = {}
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, table in tables.items():
                buf = io.BytesIO()
                pq.write_table(table, buf)
                blob = buf.getvalue()
                zf.writestr(f"{name}.pqt", blob)
                footer = pq.read_metadata(io.BytesIO(blob))
                info[name] = {"nrecs": footer.num_rows, "size": footer.serialized_size}
            zf.writestr("QC.json", json.dumps(self.qc_records()))
            zf.writestr("cache_info.json", json.dumps({**meta, "tables": info}, indent=1))
        return out.getvalue()

    def qc_records(self) -> list[dict]:
        """QC.json of one_cache --qc: each session's QC and extended QC, with its insertions'
        (those whose json has an extended_qc) under ``probe_insertions``."""
        ex = self.session_extra
        out = {eid: {"eid": eid, "qc_outcome": str(qc), "extended_qc": ext}
               for eid, qc, ext in zip(ex.index, ex["qc"], ex["extended_qc"], strict=True)}
        for (eid, pid), name, j in zip(self.insertions.index, self.insertions["name"],
                                       self.insertions["json"], strict=True):
            if "extended_qc" in (j or {}):
                out[eid].setdefault("probe_insertions", []).append({
                    "pid": pid, "probe_name": name, "qc_outcome": j.get("qc", "NOT_SET"),
                    "extended_qc": j["extended_qc"]})
        return list(out.values())

    # -- lookups --
    def session_datasets(self, eid: str) -> pd.DataFrame:
        """The session's dataset rows (index: dataset id), from the precomputed row range."""
        start, stop = self.dataset_slices.get(eid, (0, 0))
        return self.datasets.iloc[start:stop].droplevel(0)

    def session_ref(self, eid: str) -> tuple[str, str, dt.date, int]:
        """(lab, subject, date, number) of a session."""
        row = self.sessions.loc[eid]
        return row["lab"], row["subject"], row["date"], int(row["number"])

    # -- REST records --
    def session_list_records(self, eids: list[str] | pd.Index, base_url: str) -> list[dict]:
        """Alyx's 8-field session list records, in the order of ``eids``."""
        s = self.sessions.loc[eids]
        start = self.session_extra.loc[eids, "start_time"]
        return [
            {"id": eid, "subject": subj, "start_time": _iso(st), "number": int(num), "lab": lab,
             "projects": _split(proj), "url": f"{base_url}/sessions/{eid}", "task_protocol": tp}
            for eid, subj, st, num, lab, proj, tp in zip(
                s.index, s["subject"], start, s["number"], s["lab"], s["projects"],
                s["task_protocol"], strict=True)
        ]

    def session_detail_record(self, eid: str, base_url: str) -> dict:
        """Alyx's session detail record, incl. data_dataset_session_related quirks."""
        lab, subject, date, number = self.session_ref(eid)
        row = self.sessions.loc[eid]
        ex = self.session_extra.loc[eid]
        ds = self.session_datasets(eid)
        ds = ds[ds["exists"].to_numpy()]
        related = [
            {**self._dataset_brief(did, r, base_url, (lab, subject, date, number)),
             "revision": _revision(r.rel_path), "default_revision": str(bool(r.default_revision)),
             "qc": r.qc}
            for did, r in zip(ds.index, ds.itertuples(index=False), strict=True)
        ]
        pids = self.insertions.loc[[eid]].index.get_level_values(1) \
            if eid in self.insertions.index.get_level_values(0) else []
        return {
            "subject": subject, "users": list(ex["users"]), "location": ex["location"],
            "procedures": list(ex["procedures"]), "lab": lab, "projects": _split(row["projects"]),
            "type": ex["type"], "task_protocol": row["task_protocol"], "number": number,
            "start_time": _iso(ex["start_time"]), "end_time": _iso(ex["end_time"]),
            "narrative": ex["narrative"], "parent_session": None,
            "n_correct_trials": _int_or_none(ex["n_correct_trials"]),
            "n_trials": _int_or_none(ex["n_trials"]), "url": f"{base_url}/sessions/{eid}",
            "extended_qc": ex["extended_qc"], "qc": ex["qc"], "wateradmin_session_related": [],
            "data_dataset_session_related": related,
            "auto_datetime": _iso(ex["end_time"] + pd.Timedelta(hours=2)), "id": eid,
            "json": None,
            "probe_insertion": [self.insertion_record(eid, pid, base_url) for pid in pids],
            "field_of_view": [], "notes": [],
        }

    def _dataset_brief(self, did: str, r: Any, base_url: str,
                       ref: tuple[str, str, dt.date, int]) -> dict:
        collection, _, name = _split_rel_path(r.rel_path)
        return {
            "id": did, "name": name, "dataset_type": dataset_type_of(name),
            "data_url": _data_url(ref, r.rel_path, did), "url": f"{base_url}/datasets/{did}",
            "file_size": _int_or_none(r.file_size), "hash": r.hash, "version": "1.0.0",
            "collection": collection,
        }

    def dataset_record(self, eid: str, did: str, base_url: str) -> dict:
        """Alyx's /datasets record (file records on flatiron and the lab server)."""
        start, stop = self.dataset_slices[eid]
        ids = self.datasets.index.get_level_values(1)[start:stop]
        return self.dataset_records(start + np.flatnonzero(ids == did)[:1], base_url)[0]

    def dataset_records(self, rows: np.ndarray, base_url: str) -> list[dict]:
        """Alyx's /datasets records of the rows at positions ``rows``, in that order."""
        part = self.datasets.iloc[rows]
        eids = part.index.get_level_values(0)
        s = self.sessions.loc[eids]
        ex = self.session_extra.loc[eids]
        return [
            self._dataset_record(did, eid, r, (lab, subj, date, int(num)), users[0], end,
                                 base_url)
            for did, eid, r, lab, subj, date, num, users, end in zip(
                part.index.get_level_values(1), eids, part.itertuples(index=False), s["lab"],
                s["subject"], s["date"], s["number"], ex["users"], ex["end_time"], strict=True)
        ]

    @staticmethod
    def _dataset_record(did: str, eid: str, r: Any, ref: tuple[str, str, dt.date, int],
                        created_by: str, end_time: Any, base_url: str) -> dict:
        collection, revision, name = _split_rel_path(r.rel_path)
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

    def insertion_records(self, keys: list[tuple[str, str]], base_url: str) -> list[dict]:
        """Alyx's /insertions list records of the ``(eid, pid)`` pairs, in that order."""
        ins = self.insertions.loc[keys]
        eids = ins.index.get_level_values(0)
        s = self.sessions.loc[eids]
        starts = self.session_extra.loc[eids, "start_time"]
        return [
            {"id": pid, "session": eid, "model": r.model,
             "session_info": {"subject": subj, "start_time": _iso(st), "number": int(num),
                              "lab": lab, "id": eid, "projects": _split(proj),
                              "task_protocol": tp},
             "name": r.name, "json": r.json, "serial": r.serial, "auto_datetime": r.auto_datetime,
             "chronic_insertion": None, "datasets": list(r.datasets)}
            for (eid, pid), r, subj, st, num, lab, proj, tp in zip(
                ins.index, ins.itertuples(index=False), s["subject"], starts, s["number"],
                s["lab"], s["projects"], s["task_protocol"], strict=True)
        ]

    def insertion_record(self, eid: str, pid: str, base_url: str, detail: bool = False) -> dict:
        """Alyx's /insertions record; the detail nests datasets with an **integer** qc."""
        rec = self.insertion_records([(eid, pid)], base_url)[0]
        ins = self.insertions.loc[(eid, pid)]
        if detail:
            ref = self.session_ref(eid)
            ds = self.session_datasets(eid).loc[list(ins["datasets"])]
            rec["datasets"] = [
                {**self._dataset_brief(did, r, base_url, ref), "qc": QC_VALUES[r.qc]}
                for did, r in zip(ds.index, ds.itertuples(index=False), strict=True)
            ]
        return rec


_SESSIONS_ORDER = ("lab", "subject", "date", "number", "task_protocol", "projects")
_DATASETS_ORDER = ("file_size", "hash", "default_revision", "qc", "exists", "rel_path")


def _alyx_table(df: pd.DataFrame, columns: tuple[str, ...], meta: dict) -> pa.Table:
    """A frame as Alyx's one_cache turns it into an Arrow table (with pandas 2's types)."""
    table = pa.Table.from_pandas(df[list(columns)])
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_dictionary(t) and pa.types.is_large_string(t.value_type):
            t = pa.dictionary(t.index_type, pa.string(), t.ordered)
        fields.append(pa.field(f.name, t))
    pandas_meta = json.loads(table.schema.metadata[b"pandas"])
    for col in pandas_meta["columns"]:  # pandas 3 says "str" where pandas 2 (Alyx) says object
        if col["pandas_type"] == "unicode":
            col["numpy_type"] = "object"
    table = table.cast(pa.schema(fields))
    return table.replace_schema_metadata({"one_metadata": json.dumps(meta).encode(),
                                          "pandas": json.dumps(pandas_meta).encode()})


def _split(projects: str) -> list[str]:
    return [p for p in projects.split(",") if p]


def _iso(ts: Any) -> str:
    return pd.Timestamp(ts).isoformat()


def _int_or_none(v: Any) -> int | None:
    return None if pd.isna(v) else int(v)


def _split_rel_path(rel_path: str) -> tuple[str, str, str]:
    """'alf/#2024-05-06#/x.npy' -> ('alf', '2024-05-06', 'x.npy')."""
    parts = rel_path.split("/")
    name = parts[-1]
    revision = ""
    if len(parts) > 1 and parts[-2].startswith("#") and parts[-2].endswith("#"):
        revision = parts[-2][1:-1]
        parts = parts[:-1]
    return "/".join(parts[:-1]), revision, name


def _revision(rel_path: str) -> str:
    return _split_rel_path(rel_path)[1]


def _data_url(ref: tuple[str, str, dt.date, int], rel_path: str, did: str) -> str:
    """The file server URL, with the dataset UUID before the extension (as Alyx builds it)."""
    lab, subject, date, number = ref
    stem, ext = rel_path.rsplit(".", 1)
    return f"{DATA_SERVER}/{lab}/Subjects/{subject}/{date}/{number:03d}/{stem}.{did}.{ext}"


# --- generation ---------------------------------------------------------------------------------
_EPOCH = np.datetime64("2018-01-01")
_LAST_DAY = np.datetime64("2025-12-31")


def generate(n_sessions: int = 50, seed: int = 0) -> SyntheticDB:
    """Build the synthetic database; identical output for identical ``(n_sessions, seed)``."""
    rng = np.random.default_rng([seed, n_sessions])
    subjects = _make_subjects(rng, n_sessions)
    sess, extra, kind, n_probes = _make_sessions(rng, subjects, n_sessions)
    datasets, slices, ds_probe, ds_sess = _make_datasets(rng, sess.index, kind)
    insertions, acronyms = _make_insertions(rng, sess, extra, datasets, ds_probe, ds_sess,
                                            n_probes, subjects)
    extra["atlas_acronyms"] = pd.Series(acronyms, index=sess.index, dtype=object)
    labs = pd.DataFrame(
        [{"name": k, "institution": v[0], "address": "", "timezone": v[1],
          "repositories": [f"flatiron_{k}", f"{k}_SR"], "reference_weight_pct": 0.85,
          "zscore_weight_pct": 0.0, "json": None} for k, v in LABS.items()]
    ).set_index("name", drop=False)
    projects = sorted({p for ps in sess["projects"] for p in _split(ps)} | {BRAINWIDE})
    users = sorted({u for v in LABS.values() for u in v[4]})
    now = dt.datetime.now().replace(second=0, microsecond=0)
    return SyntheticDB(sessions=sess, datasets=datasets, insertions=insertions,
                       session_extra=extra, subjects=subjects, labs=labs, users=users,
                       projects=projects, seed=seed, date_created=now, dataset_slices=slices)


def _make_subjects(rng: np.random.Generator, n_sessions: int) -> pd.DataFrame:
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


def _make_sessions(rng: np.random.Generator, subjects: pd.DataFrame, n: int
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
    return key.sort_values("t").groupby(["s", "d"]).cumcount().reindex(key.index).to_numpy() + 1


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
    duration = rng.integers(20 * 60, 100 * 60, n).astype("timedelta64[s]")
    narr = rng.integers(0, len(NARRATIVES), n)
    narr_on = rng.random(n) < 0.35
    lab = sessions["lab"].to_numpy()
    n_users = 1 + (rng.random(n) < 0.2)
    user_i = rng.integers(0, 3, n)
    passed = np.round(rng.beta(8, 2, n), 4)
    behav = (rng.random(n) < 0.8).astype(int)
    vid = rng.choice(QC_NAMES[1:4], (n, 3)).tolist()
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
            "task": QC_NAMES[qc_code[i]], "_task_iti_delays": float(round(passed[i] - .05, 4)),
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
        "qc": pd.Categorical.from_codes(qc_code, categories=QC_NAMES, ordered=True),
        "extended_qc": pd.Series(ext, dtype=object, index=sessions.index),
        "n_trials": n_trials_s, "n_correct_trials": n_correct_s,
        "performance": np.where(has_trials, 100 * n_correct / np.maximum(n_trials, 1), np.nan),
        "users": pd.Series(users, dtype=object, index=sessions.index),
        "start_time": start, "end_time": start + duration,
        "procedures": pd.Series(procs, dtype=object, index=sessions.index),
        "type": "Experiment", "location": locs,
    }, index=sessions.index)


def _make_datasets(rng: np.random.Generator, eids: pd.Index, kind: np.ndarray
                   ) -> tuple[pd.DataFrame, dict[str, tuple[int, int]], np.ndarray, np.ndarray]:
    """Dataset rows from the per-kind templates, grouped by session, with some revisions."""
    t = _flat_templates()
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
        "qc": pd.Categorical.from_codes(qc, categories=QC_NAMES, ordered=True),
        "default_revision": is_last,
    }, index=index)
    bounds = np.searchsorted(sess, np.arange(n_sess + 1))
    slices = {eid: (int(bounds[i]), int(bounds[i + 1])) for i, eid in enumerate(eids)}
    return df, slices, t.probe[tpl], sess


def _rel_path_codes(t: _Template, tpl: np.ndarray, rev_i: np.ndarray
                    ) -> tuple[list[str], np.ndarray]:
    """rel_path strings as (pool, codes): one pool entry per template row and revision."""
    n_tpl = len(t.name)
    pool = []
    for r in [None, *REVISIONS]:
        for c, nm in zip(t.collection, t.name, strict=True):
            parts = [p for p in (c, f"#{r}#" if r else "", nm) if p]
            pool.append("/".join(parts))
    return pool, tpl + n_tpl * (rev_i + 1)


def _make_insertions(rng: np.random.Generator, sess: pd.DataFrame, extra: pd.DataFrame,
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
    qc = rng.choice(QC_NAMES[1:], m, p=[0.5, 0.2, 0.2, 0.1]).tolist()
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
    records, acronyms = [], [[] for _ in range(len(sess))]
    for j in range(m):
        regions = sorted(rng.choice(_LEAF_REGIONS, n_regions[j], replace=False).tolist()) \
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
