"""Gallbladder: a bile-density (fluid) compact body against the liver's undersurface.

Canonical (S, P, L) view. The liver comes from :func:`..ct_organs.segment_organ` (its
classical stage, no model: ``refine=False``). Bile-density voxels (:data:`BILE_HU`) inside
the body, outside the liver and within :data:`NEAR_LIVER_MM` of it, in the liver's lower
two thirds, are opened by each radius of :data:`OPEN_MM` to cut them from fluid-filled bowel; each
opened component of a gallbladder's size (:data:`VOLUME_ML`) is scored by how much of its
surface touches the liver (a gallbladder lies in its fossa, bowel only touches it); the
largest one with at least :data:`MIN_CONTACT` of its surface on the liver is the gallbladder. A contracted or removed
gallbladder is reported not found, with the reason.
"""
from __future__ import annotations

import numpy as np

from .morph import dilate_mm, open_mm
from .result import StructureResult, not_assessable
from .vertebrae import spine_levels

BILE_HU = (-30.0, 40.0)
NEAR_LIVER_MM = 25.0
OPEN_MM = (4.0, 7.0, 10.0)  # tried in turn: the component with the most liver contact wins
VOLUME_ML = (5.0, 250.0)
MIN_CONTACT = 0.2
_METHOD = ("bile-density compact body against the liver's undersurface (liver by HU rules), "
           "chosen by its contact with the liver")


def locate_gallbladder(study) -> StructureResult:
    """The gallbladder on the study grid (see the module docstring)."""
    from scipy import ndimage as ndi

    from ..ct_organs import segment_organ

    name = "gallbladder"
    liver_seg = segment_organ(study, "liver", refine=False)
    if liver_seg.mask is None:
        return not_assessable(name, "the liver (which places the gallbladder) was not found", _METHOD)
    lv = spine_levels(study)
    sp, hs = lv.frame.spacing, lv.hu_s
    liver = lv.frame.to_canonical(liver_seg.mask)
    zl = np.flatnonzero(liver.any(axis=(1, 2)))
    z_hi = int(zl[0] + 2 * (zl[-1] - zl[0]) / 3)  # lower two thirds of the liver
    near = ndi.distance_transform_edt(~liver, sampling=sp) <= NEAR_LIVER_MM
    fluid = (hs > BILE_HU[0]) & (hs < BILE_HU[1]) & lv.body & near & ~liver
    fluid[z_hi + 1:] = False
    shell = dilate_mm(liver, 2.0 * max(sp), sp) & ~liver
    vox_ml = float(np.prod(sp)) / 1000.0
    best: tuple = (0.0, None, 0.0)  # (voxels, mask, contact)
    for radius in OPEN_MM:  # the smallest opening that separates it from bowel wins on contact
        lab, n = ndi.label(open_mm(fluid, radius, sp))
        for i, sl in enumerate(ndi.find_objects(lab)):
            comp = lab[sl] == i + 1
            if not VOLUME_ML[0] <= float(comp.sum()) * vox_ml <= VOLUME_ML[1]:
                continue
            surface = comp & ~ndi.binary_erosion(comp)
            contact = float((surface & shell[sl]).sum()) / max(1, int(surface.sum()))
            if contact >= MIN_CONTACT and float(comp.sum()) > best[0]:
                grown = np.zeros(fluid.shape, bool)
                grown[sl] = comp
                best = (float(comp.sum()), dilate_mm(grown, radius, sp) & fluid, contact)
    if best[1] is None:
        return not_assessable(name, "no bile-density body against the liver (contracted, removed, or "
                              "not distinguishable)", _METHOD)
    _, canon, best_contact = best
    vol = float(canon.sum()) * vox_ml
    cut = bool(canon[0].any() or canon[-1].any())
    status, reason, conf = ("uncertain", "partial: cut by the field of view", 0.4) if cut else ("present", "", 0.6)
    return StructureResult(name=name, mask=lv.frame.to_study(canon), confidence=conf, method=_METHOD,
                           status=status, reason=reason, cut_by_fov=cut,
                           notes=(f"volume {vol:.0f} mL, {best_contact:.0%} of its surface on the liver",),
                           extra={"volume_ml": round(vol, 1)})
