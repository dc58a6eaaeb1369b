"""The brain atlas of the demo: a piece of the Allen CCF 2017 hierarchy, with ids and names.

Exists apart from the rest of the synthetic world because Alyx's atlas filters
(``atlas_acronym``, ``atlas_id``, ``atlas_name``) match a region's whole subtree: the generator
draws recorded regions from its leaves and the filters walk it upwards, so both read it here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["ATLAS_PARENTS", "ATLAS_INFO", "LEAF_REGIONS", "atlas_ancestors", "regions_above",
           "insertion_regions"]

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


#: The regions nothing is under: where the generator puts an insertion's channels.
LEAF_REGIONS = np.array(sorted(set(ATLAS_PARENTS) - set(ATLAS_PARENTS.values())))


def atlas_ancestors(acronym: str) -> list[str]:
    """The acronym and every region above it (Alyx's atlas filters match a region's subtree)."""
    out = [acronym]
    while out[-1] in ATLAS_PARENTS:
        out.append(ATLAS_PARENTS[out[-1]])
    return out



def regions_above(leaves: Iterable[str]) -> set[str]:
    """The (lower-case) acronyms of ``leaves`` and of every region above them."""
    return {a.lower() for leaf in leaves for a in atlas_ancestors(leaf)}


def insertion_regions(json_: Any) -> set[str]:
    """The (lower-case) acronyms an insertion's channels are in (its json's
    ``brain_regions``), with every region above."""
    return regions_above((json_ or {}).get("brain_regions") or [])
