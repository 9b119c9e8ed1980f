"""DICOM SR (TID 1500 Measurement Report) from a Result, through highdicom.

One measurement group per finding: volumetric (TID 1411) or planar (TID 1410, 2D
images) when the finding has a SEG segment, referencing that segment and the source
images it lies on; otherwise a plain group (TID 1501). Each group carries the tracking
identifier (the SEG's tracking UID and the finding name), the finding type and site,
the measurements with UCUM units, the finding's status as a coded qualitative
evaluation, and the finding's conclusion as text. The report's conclusion goes into the
report-level "Qualitative Evaluations" container (TID 1500 rows 12-14).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from .codes import (
    LOCAL_SCHEME,
    LOCAL_SCHEME_NAME,
    STATUS_CODES,
    STATUS_CONCEPT_NAME,
    coded,
    measurement_concept,
    segment_codes,
    unit_code,
)
from .dicom_source import SourceSeries, read_sources, sanitise_copied
from .seg import MANUFACTURER, SR_SERIES_NUMBER, SegExport, models_of, software_version, tracking_uid

log = logging.getLogger(__name__)

QUALITATIVE_EVALUATIONS = ("UMLS", "C0034375", "Qualitative Evaluations")
CONCLUSION = ("DCM", "121077", "Conclusion")
_PROCEDURES = {
    "CT": ("LN", "25045-6", "CT unspecified body region"),
    "MR": ("LN", "25056-3", "MRI unspecified body region"),
    "PT": ("LN", "44136-0", "PET unspecified body region"),
    "NM": ("LN", "49118-3", "NM unspecified body region"),
    "DX": ("LN", "43468-8", "XR unspecified body region"),
    "CR": ("LN", "43468-8", "XR unspecified body region"),
}


def build_sr(
    result: Any,
    seg: SegExport | None,
    *,
    sources: SourceSeries | None = None,
    series_number: int = SR_SERIES_NUMBER,
) -> Any:
    """Build a Comprehensive 3D SR (TID 1500) of the Result's findings and measurements.

    ``seg`` is the SEG built from the same Result (segments are referenced by number);
    None when no finding has a mask. Raises ExportError for a non-DICOM study.
    """
    import highdicom as hd

    study = result.study
    sources = seg.sources if seg is not None else (sources or read_sources(study))
    by_index = {s.finding_index: s for s in seg.segments} if seg is not None else {}
    groups = [_group(result, f, seg, by_index.get(i), sources) for i, f in enumerate(result.findings)]
    procedure = _PROCEDURES.get(str(study.modality).upper(), ("SCT", "363679005", "Imaging procedure"))
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(result),
        procedure_reported=coded(procedure),
        imaging_measurements=groups or None,
    )
    _add_conclusion(report, result)
    evidence = list(sources.datasets) + ([seg.dataset] if seg is not None else [])
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="napari-medground measurements",
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=LOCAL_SCHEME, name=LOCAL_SCHEME_NAME, responsible_organization=MANUFACTURER
            )
        ],
    )
    sanitise_copied(sr)
    return sr


def _group(result: Any, finding: Any, seg: SegExport | None, segment: Any, sources: SourceSeries) -> Any:
    import highdicom as hd

    codes_ = segment_codes(finding, result.query)
    tracking = hd.sr.TrackingIdentifier(
        uid=segment.tracking_uid if segment else tracking_uid(result, finding), identifier=finding.name[:64]
    )
    site = codes_.anatomic_region or (codes_.type if not codes_.is_altered_structure else None)
    common = dict(
        tracking_identifier=tracking,
        finding_type=coded(codes_.type),
        finding_category=coded(codes_.category),
        finding_sites=[
            hd.sr.FindingSite(coded(site), laterality=coded(codes_.laterality) if codes_.laterality else None)
        ]
        if site
        else None,
        measurements=(_measurements(result, finding) + _agreement_measurements(result, finding)) or None,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(coded(STATUS_CONCEPT_NAME), coded(STATUS_CODES[finding.status.value]))
        ],
        algorithm_id=None if finding.edited else _algorithm(result, finding),
    )
    if segment is None:
        group = hd.sr.MeasurementsAndQualitativeEvaluations(**common)
    elif result.study.is_2d:
        src = _source_images(sources, segment.source_frames)[0]
        ref = hd.sr.ReferencedSegmentationFrame(
            sop_class_uid=seg.dataset.SOPClassUID,
            sop_instance_uid=seg.dataset.SOPInstanceUID,
            frame_number=list(segment.frame_numbers),
            segment_number=segment.number,
            source_image=src,
        )
        # A frame reference carries no segment number (PS3.3 C.10.4; dciodvfy checks it):
        # the SEG frame itself belongs to exactly one segment.
        for item in ref[0].ReferencedSOPSequence:
            if "ReferencedSegmentNumber" in item:
                del item.ReferencedSegmentNumber
        group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_segment=ref, **common)
    else:
        ref = hd.sr.ReferencedSegment(
            sop_class_uid=seg.dataset.SOPClassUID,
            sop_instance_uid=seg.dataset.SOPInstanceUID,
            segment_number=segment.number,
            source_images=_source_images(sources, segment.source_frames),
        )
        group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(referenced_segment=ref, **common)
    text = _finding_conclusion(result, finding)
    if text:
        group[0].ContentSequence.append(
            hd.sr.TextContentItem(name=coded(CONCLUSION), value=text, relationship_type="CONTAINS")
        )
    return group


def _measurements(result: Any, finding: Any) -> list[Any]:
    import highdicom as hd

    out = []
    for m in finding.measurements:
        if m.value is None or not math.isfinite(float(m.value)):
            log.info("%s: measurement %s has no finite value; not in the SR", finding.name, m.name)
            continue
        concept = measurement_concept(m.name, result.study.modality)
        out.append(
            hd.sr.Measurement(
                name=coded(concept.name),
                value=float(m.value),
                unit=coded(unit_code(m.unit)),
                derivation=coded(concept.derivation) if concept.derivation else None,
            )
        )
    return out


# a clinician's edit versus the AI mask: local codes (no standard code for these); the AI
# mask is the reference, so the numbers measure this segment against it
_AGREEMENT = (
    ("dice", (LOCAL_SCHEME, "dice_to_ai", "Dice coefficient to the AI segmentation"), "1"),
    ("hd95_mm", (LOCAL_SCHEME, "hd95_to_ai", "95th percentile Hausdorff distance to AI segmentation"), "mm"),
    ("volume_change_ml", (LOCAL_SCHEME, "dvol_from_ai", "Volume change from the AI segmentation"), "mL"),
)


def finding_agreement(result: Any, finding: Any) -> dict[str, Any] | None:
    """The agreement dict of the finding's edited step (the last one), if its mask was edited."""
    found = [s.evidence.extra["agreement"] for s in result.steps
             if (s.id in finding.steps or s.finding == finding.name) and "agreement" in s.evidence.extra]
    return found[-1] if found else None


def _agreement_measurements(result: Any, finding: Any) -> list[Any]:
    import highdicom as hd

    agreement = finding_agreement(result, finding)
    if not agreement:
        return []
    out = []
    for key, concept, unit in _AGREEMENT:
        value = agreement.get(key)
        if value is None or not math.isfinite(float(value)):
            continue
        if key == "volume_change_ml" and result.study.is_2d:
            continue  # a planar ROI has an area, not a volume
        out.append(hd.sr.Measurement(name=coded(concept), value=float(value), unit=coded(unit_code(unit))))
    return out


def _algorithm(result: Any, finding: Any) -> Any:
    import highdicom as hd

    uses = models_of(result, finding)
    if not uses:
        return None
    return hd.sr.AlgorithmIdentification(
        name=" + ".join(u.name for u in uses)[:64],
        version=" + ".join(u.version or "unknown" for u in uses)[:64],
    )


def _source_images(sources: SourceSeries, frame_indices: tuple[int, ...]) -> list[Any]:
    """SourceImageForSegmentation per source dataset, with frame numbers for multi-frame images."""
    import highdicom as hd

    frames_by_ds: dict[int, list[int]] = {}
    for k in frame_indices or range(len(sources.frames)):
        fr = sources.frames[k]
        frames_by_ds.setdefault(fr.dataset_index, [])
        if fr.frame_number is not None:
            frames_by_ds[fr.dataset_index].append(fr.frame_number)
    out = []
    for i, numbers in frames_by_ds.items():
        ds = sources.datasets[i]
        out.append(
            hd.sr.SourceImageForSegmentation(
                ds.SOPClassUID, ds.SOPInstanceUID, referenced_frame_numbers=numbers or None
            )
        )
    return out


def _finding_conclusion(result: Any, finding: Any) -> str:
    details = [
        s.detail
        for s in result.steps
        if s.kind.value == "conclude" and (s.id in finding.steps or s.finding == finding.name) and s.detail
    ]
    return " ".join(details)[:1024] or f"{finding.name}: {finding.status.value}"


def _add_conclusion(report: Any, result: Any) -> None:
    import highdicom as hd

    conclusion = result.conclusion
    if not conclusion.text and not result.findings:
        return
    container = hd.sr.ContainerContentItem(name=coded(QUALITATIVE_EVALUATIONS), relationship_type="CONTAINS")
    container.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.CodeContentItem(
                name=coded(STATUS_CONCEPT_NAME),
                value=coded(STATUS_CODES[conclusion.status.value]),
                relationship_type="CONTAINS",
            ),
            hd.sr.TextContentItem(
                name=coded(CONCLUSION),
                value=(conclusion.text or "(no conclusion)")[:10000],
                relationship_type="CONTAINS",
            ),
        ]
    )
    report[0].ContentSequence.append(container)


def _observation_context(result: Any) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[MANUFACTURER, software_version()]),
            name=MANUFACTURER,
            manufacturer_name=MANUFACTURER,
            model_name=f"{MANUFACTURER} {software_version()}",
        ),
    )
    users = sorted({e.user for e in result.edit_log if e.user})
    person = None
    if users:
        name = users[0] if "^" in users[0] else f"{users[0]}^"
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=name[:64]),
        )
    return hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device)
