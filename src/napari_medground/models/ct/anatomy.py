"""Classical CT anatomy from Hounsfield-unit rules and morphology (no model weights).

Body, lungs (left/right, from the patient's LPS x, never the array position), airways,
bone, fat and water-like fluid, on any CT in any orientation and spacing: the rules run on
a canonical view of the array whose axes point toward patient Superior, Posterior and
Left (:mod:`.frame`), with structuring elements sized in mm, and the masks come
back on the study grid. A 2D CT slice is handled as a one-slice volume.

All masks are boolean arrays with ``study.array.shape``. Results are cached per study
(content fingerprint) and returned read-only: copy a mask before editing it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...cache import Signature, StudyCache
from ...errors import ModelUnavailable
from .geometry import (
    TISSUE_HU,
    Frame,
    ball_mm,
    block_mean,
    body_mask_canonical,
    coarse_factors,
    make_frame,
    per_slice,
    refine,
    smooth_mm,
)

log = logging.getLogger(__name__)

NOT_CT = {"MR", "PT", "US", "CR", "DX", "MG", "NM", "XA", "RF", "OP", "SM"}
FAT_HU = (-190.0, -30.0)  # adipose tissue window (e.g. Kvist 1988; Yoshizumi 1999)
FLUID_HU = (-10.0, 25.0)  # water-like: bile, urine, simple cysts, effusions
BONE_SEED_HU, BONE_GROW_HU = 400.0, 200.0
_CACHE = StudyCache("ct_anatomy", max_items=16)  # about two studies' worth of masks


@dataclass(frozen=True, eq=False)
class LungMasks:
    """Lungs of a CT, each a boolean mask on the study grid (read-only).

    Attributes
    ----------
    left, right : the patient's left and right lung (LPS +x is the patient's left),
        including vessels and nodules enclosed by lung, excluding trachea and main bronchi.
    airways : trachea and main bronchi where they are in view (empty otherwise).
    confidence : 0..1, how sure the rules are (lower when the lungs barely show, when
        touching lungs had to be split at the midline plane, or when density is marginal).
    notes : plain-language account of what was found and excluded (e.g. bowel gas).
    """

    left: np.ndarray
    right: np.ndarray
    airways: np.ndarray
    confidence: float
    notes: tuple[str, ...] = ()

    @property
    def both(self) -> np.ndarray:
        """Union of the left and right lung."""
        return self.left | self.right


def segment_body(study) -> np.ndarray:
    """The patient's body: tissue above -500 HU without the scanner table, with the
    lungs, airways and bowel gas filled in (holes filled per axial slice)."""
    return _cached(study, "body", lambda: _frame_and_hu(study)[0].to_study(_body_canonical(study)))


def segment_lungs(study) -> LungMasks:
    """Left lung, right lung and airways by HU rules (see :mod:`.lungs`).

    Bowel and stomach gas, air outside the body and the table are excluded; lungs that
    touch are split into the patient's left and right.
    """
    def run() -> LungMasks:
        from .lungs import lungs_canonical, refine_lungs

        frame, hu_c, spacing_c, factors = _coarse(study)
        parts = lungs_canonical(hu_c, _body_coarse(study), spacing_c)
        if factors != (1, 1, 1):
            parts = refine_lungs(parts, factors, _frame_and_hu(study)[1])
        notes = tuple(parts.notes)
        log.info("lungs of %s: %s", study.name, "; ".join(notes))
        return LungMasks(*(_ro(frame.to_study(m)) for m in (parts.left, parts.right, parts.airways)),
                         confidence=round(parts.confidence, 3), notes=notes)

    return _cached(study, "lungs", run)


def segment_bone(study) -> np.ndarray:
    """Bone: voxels of at least 200 HU connected to cortical bone (at least 400 HU), with
    the marrow enclosed by cortex filled per axial slice. Dense contrast (an arterial-phase
    aorta) can pass these thresholds; the mask says bone-dense, not bone-shaped."""
    def run() -> np.ndarray:
        from scipy import ndimage as ndi
        from skimage.filters import apply_hysteresis_threshold

        frame, hu = _frame_and_hu(study)
        body = _body_canonical(study)
        bone = apply_hysteresis_threshold(np.where(body, hu, -1024), BONE_GROW_HU, BONE_SEED_HU)
        bone = per_slice(ndi.binary_fill_holes, bone) & body
        return _ro(frame.to_study(bone))

    return _cached(study, "bone", run)


def segment_fat(study) -> np.ndarray:
    """Adipose tissue: -190..-30 HU inside the body after ~1 mm smoothing, leaving out the
    partial-volume rims of internal air (lungs, airways, bowel gas) that pass through that
    range."""
    def run() -> np.ndarray:
        from scipy import ndimage as ndi

        frame, hu = _frame_and_hu(study)
        body = _body_canonical(study)
        smooth = smooth_mm(hu, frame.spacing)
        inner_air = per_slice(ndi.binary_dilation, body & (hu < -400), structure=np.ones((3, 3), bool))
        fat = body & (smooth >= FAT_HU[0]) & (smooth <= FAT_HU[1]) & ~inner_air
        return _ro(frame.to_study(fat))

    return _cached(study, "fat", run)


def segment_fluid(study) -> np.ndarray:
    """Water-like fluid (-10..25 HU after ~1.5 mm smoothing) in regions at least ~4 mm
    thick, so that the partial-volume shells between fat and soft tissue are left out.
    Approximate: unenhanced bowel content and some soft tissue share this range."""
    def run() -> np.ndarray:
        from scipy import ndimage as ndi

        frame, hu = _frame_and_hu(study)
        body = _body_canonical(study)
        smooth = smooth_mm(hu, frame.spacing, 1.5)
        fluid = body & (smooth >= FLUID_HU[0]) & (smooth <= FLUID_HU[1])
        fluid = ndi.binary_opening(fluid, structure=ball_mm(2.0, frame.spacing))
        return _ro(frame.to_study(fluid))

    return _cached(study, "fluid", run)


# ------------------------------------------------------------------ helpers
def _frame_and_hu(study) -> tuple[Frame, np.ndarray]:
    """The canonical frame and HU view of a CT study; refuses images that are not CT."""
    modality = str(getattr(study, "modality", "") or "").upper()
    if modality in NOT_CT:
        raise ModelUnavailable(
            f"{study.name}: classical CT anatomy needs a CT in Hounsfield units, this study is {modality}"
        )
    frame = make_frame(study)
    return frame, frame.to_canonical(study.array)


def _coarse(study) -> tuple[Frame, np.ndarray, tuple[float, float, float], tuple[int, int, int]]:
    """The canonical HU on the coarse (~2 mm, ``TARGET_MM``) grid the rules run on, its spacing and the
    block factors (all 1 when the study is already that coarse)."""
    def run():
        frame, hu = _frame_and_hu(study)
        factors = coarse_factors(frame.spacing)
        if factors == (1, 1, 1):
            return frame, hu, frame.spacing, factors
        spacing = tuple(s * f for s, f in zip(frame.spacing, factors))
        return frame, block_mean(hu, factors), spacing, factors

    return _cached(study, "coarse", run)


def _body_coarse(study) -> np.ndarray:
    def run() -> np.ndarray:
        _, hu_c, spacing_c, _ = _coarse(study)
        return _ro(body_mask_canonical(hu_c, spacing_c))

    return _cached(study, "body_coarse", run)


def _body_canonical(study) -> np.ndarray:
    """Full-resolution canonical body (its outer edge refined at full resolution)."""
    def run() -> np.ndarray:
        frame, hu_c, spacing_c, factors = _coarse(study)
        if factors == (1, 1, 1):
            return _body_coarse(study)
        hu = _frame_and_hu(study)[1]
        return _ro(refine(_body_coarse(study), factors, hu, lambda v, was: v > TISSUE_HU))

    return _cached(study, "body_canonical", run)


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _cached(study, what: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` once per (study content, what); the lock guards the table, not the work."""
    return _CACHE.get_or_compute(Signature(study.fingerprint, None, (what,)), fn)


def clear_cache() -> None:
    """Forget cached masks (e.g. to free memory after a large study)."""
    _CACHE.clear()
