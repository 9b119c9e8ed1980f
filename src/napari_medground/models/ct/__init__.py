"""CT: classical anatomy (HU rules and morphology), organs (classical + LiteMedSAM), lesions.

Entry points: the anatomy masks (:func:`segment_body`, :func:`segment_lungs`,
:func:`segment_bone`, :func:`segment_fat`, :func:`segment_fluid`), :func:`segment_organ`
(liver, spleen, kidneys) and :func:`lesion_candidates`. Every method works in the CT
geometry layer of :mod:`.geometry` (canonical frame, coarse grids, body masks, mm-sized
morphology).
"""
from __future__ import annotations

from .anatomy import LungMasks, segment_body, segment_bone, segment_fat, segment_fluid, segment_lungs
from .lesions import LesionCandidate, lesion_candidates
from .organs import OrganSegmentation, segment_organ

__all__ = ["LesionCandidate", "LungMasks", "OrganSegmentation", "lesion_candidates", "segment_body",
           "segment_bone", "segment_fat", "segment_fluid", "segment_lungs", "segment_organ"]
