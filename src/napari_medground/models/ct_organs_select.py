"""Which watershed region is which organ: rules on size, density and position.

Positions are relative to the spine, in mm, on the canonical grid: ``dx_mm`` > 0 toward
the patient's left, ``dy_mm`` > 0 toward posterior. The numbers are anatomical
(organ sizes and positions in adults, HU of soft tissue with or without contrast),
not fitted to any one scan.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ct_organs_locate import Abdomen, Region, clean_region

SOFT_ORGAN_HU = (-20.0, 200.0)  # fatty liver ... enhanced parenchyma (smoothed, median)
LIVER_MIN_CORE_ML = 20.0  # even a few slices of liver hold this much tissue 6 mm from any edge


@dataclass(frozen=True)
class Candidate:
    """A classical organ mask on the coarse grid, or why there is none."""

    organ: str
    mask: np.ndarray | None
    regions: tuple[int, ...] = ()
    reason: str = ""
    hu_median: float | None = None


def organs() -> tuple[str, ...]:
    """Catalogue ids of the structures this module finds (locator "ct.organ")."""
    from ..catalogue import structures

    return tuple(e.id for e in structures("CT") if e.locator == "ct.organ")


def find(ab: Abdomen, organ: str) -> Candidate:
    """The classical candidate for ``organ`` (a catalogue id with locator "ct.organ"),
    computed once per Abdomen. The entry's ``locator_args["finder"]`` names the rule set
    ("liver", "spleen", "kidney"); its ``side`` the kidney's side."""
    from ..catalogue import get

    if organ not in ab.candidates:
        entry = get(organ, "CT")
        finder = _FINDERS.get(str((entry.locator_args if entry else {}).get("finder", "")))
        if entry is None or finder is None:
            ab.candidates[organ] = Candidate(organ, None,
                                             reason=f"no organ rule set for '{organ}' in the catalogue")
        else:
            ab.candidates[organ] = finder(ab, entry)
    return ab.candidates[organ]


def _pick(regions: list[Region]) -> Region | None:
    return max(regions, key=lambda r: r.core_ml) if regions else None


def _liver_region(ab: Abdomen) -> Region | None:
    """The largest homogeneous soft-tissue core on the patient's right, in front of the spine."""
    ok = [r for r in ab.regions
          if not r.thin and r.dx_mm < -20.0 and r.dy_mm < 10.0
          and SOFT_ORGAN_HU[0] <= r.hu_median <= SOFT_ORGAN_HU[1]
          and r.core_ml >= LIVER_MIN_CORE_ML and r.region_ml >= 100.0]
    return _pick(ok)


def _liver(ab: Abdomen, entry=None) -> Candidate:
    r = _liver_region(ab)
    if r is None:
        return Candidate("liver", None, reason="no large homogeneous soft-tissue region on the patient's right "
                                               "in front of the spine (is the upper abdomen in the scan?)")
    mask = clean_region(ab, [r.label])
    return Candidate("liver", mask, (r.label,),
                     reason=f"largest homogeneous region on the right ({mask.sum() * ab.voxel_ml:.0f} mL, "
                            f"median {r.hu_median:.0f} HU)", hu_median=r.hu_median)


def _spleen(ab: Abdomen, entry=None) -> Candidate:
    """Left upper quadrant, posterolateral, level with the upper liver, density near the liver's."""
    liver = _liver_region(ab)
    ok = []
    for r in ab.regions:
        if liver is not None and r.label == liver.label:
            continue
        if r.thin or not (r.dx_mm > 50.0 and -70.0 < r.dy_mm < 60.0 and r.region_ml >= 15.0):
            continue
        if not SOFT_ORGAN_HU[0] <= r.hu_median <= SOFT_ORGAN_HU[1]:
            continue
        if liver is not None:
            mid_liver = (liver.z_range[0] + liver.z_range[1]) / 2.0
            if r.z_range[1] < mid_liver or abs(r.hu_median - liver.hu_median) > 40.0:
                continue
        ok.append(r)
    r = _pick(ok)
    if r is None:
        return Candidate("spleen", None, reason="no homogeneous soft-tissue region in the left upper quadrant "
                                                "behind the stomach at the level of the liver")
    mask = clean_region(ab, [r.label], open_mm=5.0)
    return Candidate("spleen", mask, (r.label,),
                     reason=f"homogeneous region in the left upper quadrant ({mask.sum() * ab.voxel_ml:.0f} mL, "
                            f"median {r.hu_median:.0f} HU)", hu_median=r.hu_median)


def _kidney(ab: Abdomen, entry) -> Candidate:
    from .ct_organs_kidney import find_kidney

    if entry.side not in ("left", "right"):
        return Candidate(entry.id, None,
                         reason=f"catalogue entry {entry.id} needs a side for the kidney rules")
    return find_kidney(ab, entry.side, organ=entry.id, keep_out=tuple(entry.locator_args.get("keep_out", ())))


_FINDERS = {"liver": _liver, "spleen": _spleen, "kidney": _kidney}
