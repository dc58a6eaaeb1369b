"""What the synthetic IBL world contains: labs, protocols, revisions and the dataset catalogue.

Exists so that the IBL-like vocabulary (which labs and users, which task protocols, which files
a session of each kind has, how an ALF path splits into collection / revision / name) changes
in one place, apart from the random draws over it (``demo/generator.py``) and the JSON Alyx
makes of it (``demo/records.py``). QC levels are not here: they are the engine's
:class:`~one_tui.engine.core.spec.QC`, the one list of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DATA_SERVER", "MIN_API_VERSION", "LABS", "PROTOCOLS", "REVISIONS", "BRAINWIDE",
    "NARRATIVES", "KINDS", "Template", "flat_templates", "dataset_type_of", "split_rel_path",
    "split_projects",
]

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
class Template:
    """All templates flattened into arrays, plus each kind's slice into them."""

    collection: np.ndarray
    name: np.ndarray
    size: np.ndarray
    revisable: np.ndarray
    probe: np.ndarray
    start: np.ndarray
    length: np.ndarray


def flat_templates() -> Template:
    kinds = _templates()
    rows = [r for k in kinds for r in k]
    lengths = np.array([len(k) for k in kinds])
    return Template(
        collection=np.array([r[0] for r in rows], dtype=object),
        name=np.array([r[1] for r in rows], dtype=object),
        size=np.array([r[2] for r in rows], dtype=np.float64),
        revisable=np.array([r[3] for r in rows]),
        probe=np.array([r[4] for r in rows], dtype=np.int8),
        start=np.concatenate([[0], np.cumsum(lengths)[:-1]]),
        length=lengths,
    )


def split_projects(projects: str) -> list[str]:
    """The project names of a session's comma-separated ``projects`` cell."""
    return [p for p in projects.split(",") if p]


def split_rel_path(rel_path: str) -> tuple[str, str, str]:
    """'alf/#2024-05-06#/x.npy' -> ('alf', '2024-05-06', 'x.npy')."""
    parts = rel_path.split("/")
    name = parts[-1]
    revision = ""
    if len(parts) > 1 and parts[-2].startswith("#") and parts[-2].endswith("#"):
        revision = parts[-2][1:-1]
        parts = parts[:-1]
    return "/".join(parts[:-1]), revision, name
