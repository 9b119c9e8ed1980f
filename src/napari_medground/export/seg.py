"""DICOM SEG from a Result, through highdicom (``hd.seg.Segmentation``).

One segment per finding with a non-empty mask, numbered from 1 in finding order. Each
segment is coded in SNOMED CT (:mod:`.codes`), carries its tracking UID (shared with
the SR), its display colour, and either the model's algorithm identification (AUTOMATIC)
or MANUAL when the clinician edited the mask. Frames follow the source series exactly:
one per source slice (single-frame series), per source frame (enhanced multi-frame) or
the one image (DX/CR), each sampled from the study-grid mask through its own geometry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExportError
from .codes import code_item, coded, finding_color, segment_codes
from .dicom_source import SourceSeries, frames_from_mask, read_sources, sanitise_copied

log = logging.getLogger(__name__)

MANUFACTURER = "napari-medground"
SEG_SERIES_NUMBER = 901
SR_SERIES_NUMBER = 902


@dataclass(frozen=True)
class SegSegment:
    """One written segment: which finding and mask it holds."""

    number: int
    finding: str
    finding_index: int  # position in Result.findings (names need not be unique)
    mask_id: str
    tracking_uid: str
    frame_numbers: tuple[int, ...]  # SEG frames (1-based) that hold this segment
    source_frames: tuple[int, ...]  # indices into SourceSeries.frames where it has pixels


@dataclass(frozen=True)
class SegExport:
    """A built (not yet written) DICOM SEG and how it maps to the Result."""

    dataset: Any  # highdicom.seg.Segmentation
    segments: tuple[SegSegment, ...]
    notes: tuple[str, ...]  # findings left out and why
    sources: SourceSeries


def software_version() -> str:
    from .. import __version__

    return str(__version__)


def tracking_uid(result: Any, finding: Any) -> str:
    """A UID for a finding that is the same in the SEG and the SR of one export."""
    from pydicom.uid import generate_uid

    fp = result.study.fingerprint if result.study is not None else str(id(result))
    mask = result.masks.get(finding.mask_id) if finding.mask_id else None
    digest = "" if mask is None else str(int(np.count_nonzero(mask)))
    index = str(finding_index(result, finding))
    return generate_uid(entropy_srcs=[fp, index, finding.name, str(finding.label_value), digest])


def finding_index(result: Any, finding: Any) -> int:
    """Position of ``finding`` (this very object) in ``result.findings``."""
    return next(i for i, f in enumerate(result.findings) if f is finding)


def build_seg(
    result: Any, *, sources: SourceSeries | None = None, series_number: int = SEG_SERIES_NUMBER
) -> SegExport | None:
    """Build the DICOM SEG of a Result; None when no finding has a non-empty mask.

    Raises
    ------
    ExportError
        The study is not DICOM, its files are gone, or a frame cannot be mapped.
    """
    import highdicom as hd

    study = result.study
    sources = sources or read_sources(study)
    chosen, notes = _segment_findings(result)
    if not chosen:
        return None
    frame_masks = [frames_from_mask(result.masks[f.mask_id], study, sources) for f in chosen]
    present = [m.any(axis=(1, 2)) for m in frame_masks]
    descriptions, segs = [], []
    for number, (f, planes) in enumerate(zip(chosen, present), start=1):
        uid = tracking_uid(result, f)
        descriptions.append(_description(result, f, number, uid))
        segs.append((number, f, uid, tuple(int(k) for k in np.flatnonzero(planes))))
    pixel_array = _pixel_array(frame_masks)
    try:
        seg = _segmentation(hd, result, sources, pixel_array, descriptions, series_number)
    except (ValueError, TypeError, AttributeError) as exc:  # highdicom's checks on the sources
        raise ExportError(f"{study.name}: DICOM SEG cannot be built on this source ({exc})") from None
    _fix_images_without_geometry(seg, sources)
    notes += sanitise_copied(seg)
    frames_by_segment = _frames_by_segment(seg)
    written = tuple(
        SegSegment(n, f.name, finding_index(result, f), f.mask_id, uid, frames_by_segment.get(n, ()), src)
        for n, f, uid, src in segs
    )
    return SegExport(seg, written, tuple(notes), sources)


def _segmentation(
    hd: Any,
    result: Any,
    sources: SourceSeries,
    pixel_array: np.ndarray,
    descriptions: list[Any],
    series_number: int,
) -> Any:
    return hd.seg.Segmentation(
        source_images=sources.datasets,
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=software_version(),
        device_serial_number="0",
        content_label="MEDGROUND",
        content_description=_short((result.query or {}).get("text") or "napari-medground findings", 64),
        series_description="napari-medground segmentation",
    )


def _segment_findings(result: Any) -> tuple[list[Any], list[str]]:
    chosen, notes = [], []
    for f in result.findings:
        mask = result.masks.get(f.mask_id) if f.mask_id else None
        if mask is None:
            notes.append(f"{f.name}: no mask ({f.status.value}); not in the SEG")
        elif not np.any(mask):
            notes.append(f"{f.name}: empty mask; not in the SEG")
        else:
            chosen.append(f)
    return chosen, notes


def _pixel_array(frame_masks: list[np.ndarray]) -> np.ndarray:
    """A label map (frames, rows, cols) when segments do not overlap, else one-hot 4D."""
    stack = np.stack(frame_masks, axis=-1)
    if stack.sum(axis=-1, dtype=np.int32).max() <= 1:
        dtype = np.uint8 if len(frame_masks) < 256 else np.uint16
        labels = np.zeros(stack.shape[:3], dtype=dtype)
        for i, m in enumerate(frame_masks, start=1):
            labels[m] = i
        return labels
    return stack


def _description(result: Any, finding: Any, number: int, uid: str) -> Any:
    import highdicom as hd

    c = segment_codes(finding, result.query)
    algorithm = None if finding.edited else algorithm_identification(result, finding)
    rgb = finding_color(finding, number - 1)
    desc = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=_short(finding.name, 64),
        segmented_property_category=coded(c.category),
        segmented_property_type=coded(c.type),
        algorithm_type=(
            hd.seg.SegmentAlgorithmTypeValues.MANUAL
            if finding.edited
            else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        ),
        algorithm_identification=algorithm,
        tracking_uid=uid,
        tracking_id=_short(finding.name, 64),
        anatomic_regions=[coded(c.anatomic_region)] if c.anatomic_region else None,
        display_color=hd.color.CIELabColor.from_rgb(*(int(round(255 * v)) for v in rgb)),
    )
    if c.laterality is not None:
        if c.anatomic_region is not None:
            desc.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [code_item(c.laterality)]
        else:
            # nested in the type item (Segment Description Macro, PS3.3 C.8.20.2)
            item = desc.SegmentedPropertyTypeCodeSequence[0]
            item.SegmentedPropertyTypeModifierCodeSequence = [code_item(c.laterality)]
    desc.SegmentDescription = _short(f"{finding.status.value}; label {finding.label_value}", 64)
    return desc


def algorithm_identification(result: Any, finding: Any) -> Any:
    """AlgorithmIdentificationSequence of the models behind a finding (all when unknown).

    Models with a weights hash are AI (CID 7162 "Artificial Intelligence"); weight-less
    ones (HU rules, morphology) are "Morphological Operations".
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    uses = models_of(result, finding)
    if not uses:
        return hd.AlgorithmIdentificationSequence(
            name=MANUFACTURER, family=codes.cid7162.MorphologicalOperations, version=software_version()
        )
    ai = any(u.sha256 for u in uses)
    return hd.AlgorithmIdentificationSequence(
        name=_short(" + ".join(u.name for u in uses), 64),
        family=codes.cid7162.ArtificialIntelligence if ai else codes.cid7162.MorphologicalOperations,
        version=_short(" + ".join(u.version or "unknown" for u in uses), 64),
        source=MANUFACTURER,
    )


def models_of(result: Any, finding: Any) -> list[Any]:
    """The ModelUse entries named in the finding's steps (evidence "model"/"models").

    Rule-based methods are named too ("ct_classical", "cxr_classical"), so a finding made
    by HU rules is credited to them and not to a network another finding used. Only when
    no step names any algorithm are all the result's models returned.
    """
    named: set[str] = set()
    for s in result.steps:
        if s.finding == finding.name or s.id in finding.steps:
            extra = s.evidence.extra
            for key in ("model", "models"):
                val = extra.get(key)
                if isinstance(val, str):
                    named.add(val)
                elif isinstance(val, (list, tuple)):
                    named.update(str(v.get("name") if isinstance(v, dict) else v) for v in val)
                elif isinstance(val, dict) and val.get("name"):
                    named.add(str(val["name"]))
    if not named:  # a finding whose steps name no algorithm (older results): every model used
        return list(result.models)
    return [m for m in result.models if m.name in named]


def _fix_images_without_geometry(seg: Any, sources: SourceSeries) -> None:
    """DX/CR/SC sources: Patient Orientation (type 2C without a frame of reference) and no
    Pixel Measures item without Slice Thickness, which highdicom 0.28.2 cannot read back."""
    if sources.frame_of_reference_uid:
        return
    src = sources.datasets[0]
    seg.PatientOrientation = src.get("PatientOrientation", "") or ""
    shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
    if shared is not None and "PixelMeasuresSequence" in shared:
        item = shared.PixelMeasuresSequence[0]
        if "SliceThickness" not in item:
            del shared.PixelMeasuresSequence


def _frames_by_segment(seg: Any) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
    for k, item in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        ident = item.get("SegmentIdentificationSequence") or (
            shared.get("SegmentIdentificationSequence") if shared is not None else None
        )
        n = int(ident[0].ReferencedSegmentNumber)
        out.setdefault(n, []).append(k)
    return {n: tuple(v) for n, v in out.items()}


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text[:n]
