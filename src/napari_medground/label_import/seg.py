"""Import a DICOM SEG onto a study grid, as editable labels.

DICOM SEG (binary, fractional -> threshold 0.5, label map; overlapping segments kept
  apart): each frame is placed through its own plane geometry (Plane Position/Orientation,
  Pixel Spacing) into the study's patient space, so a SEG made on the single-frame
  series, on an enhanced multi-frame copy of it, or on a finer/coarser grid lands on the
  right voxels. Frames without geometry (DX/CR) are matched by their source SOP Instance.
NIfTI label maps are in :mod:`.nifti`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StudyLoadError
from ..export.codes import code_dict, concept_tuple
from .label import ImportedLabel

log = logging.getLogger(__name__)


def import_seg(path: str | Path, study: Any) -> list[ImportedLabel]:
    """Read a DICOM SEG file and map every segment onto ``study``'s grid.

    Raises
    ------
    StudyLoadError
        Not a readable SEG, another frame of reference, or frames that cannot be placed.
    """
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # noqa: BLE001 - highdicom/pydicom raise many types
        raise StudyLoadError(f"{path}: not a readable DICOM SEG ({str(exc)[:120]})") from None
    frames = _decoded_frames(seg, path)
    placer = _FramePlacer(seg, study, path)
    labels = []
    for item in seg.SegmentSequence:
        number = int(item.SegmentNumber)
        if number == 0:  # the background of a LABELMAP SEG is not a label
            continue
        mask = np.zeros(study.array.shape, dtype=bool)
        for k, data in frames.get(number, []):
            placer.place(k, data, mask)
        labels.append(
            ImportedLabel(
                name=str(item.get("SegmentLabel", "") or f"segment {number}"),
                mask=mask,
                codes=_segment_codes(item),
                color=_segment_color(item),
                source=f"{path}#segment={number}",
                value=number,
                algorithm=" ".join(
                    str(v)
                    for v in (item.get("SegmentAlgorithmType", ""), item.get("SegmentAlgorithmName", ""))
                    if v
                ),
                note="; ".join(placer.notes),
            )
        )
    return labels


def _decoded_frames(seg: Any, path: Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """segment number -> [(frame index 0-based, boolean frame)]; fractional >= 0.5."""
    seg_type = str(seg.SegmentationType)
    max_frac = float(seg.get("MaximumFractionalValue", 255) or 255)
    numbers = [int(s.SegmentNumber) for s in seg.SegmentSequence]
    out: dict[int, list[tuple[int, np.ndarray]]] = {n: [] for n in numbers}
    pffg = seg.get("PerFrameFunctionalGroupsSequence") or [None] * int(seg.get("NumberOfFrames", 1))
    shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
    for k, item in enumerate(pffg):
        data = np.asarray(seg.get_stored_frame(k + 1))
        if seg_type == "LABELMAP":
            for n in numbers:
                if n:
                    out[n].append((k, data == n))
            continue
        ident = (item.get("SegmentIdentificationSequence") if item is not None else None) or (
            shared.get("SegmentIdentificationSequence") if shared is not None else None
        )
        if not ident:
            raise StudyLoadError(f"{path}: frame {k + 1} does not say which segment it holds")
        n = int(ident[0].ReferencedSegmentNumber)
        frame = data >= 0.5 * max_frac if seg_type == "FRACTIONAL" else data.astype(bool)
        out.setdefault(n, []).append((k, frame))
    return out


class _FramePlacer:
    """Puts SEG frames onto the study grid (geometry first, source SOP instance second)."""

    def __init__(self, seg: Any, study: Any, path: Path) -> None:
        self.seg, self.study, self.path = seg, study, path
        self.notes: list[str] = []
        self.inv = np.linalg.inv(study.affine_lps)
        seg_for = seg.get("FrameOfReferenceUID") or None
        if seg_for and study.frame_of_reference_uid and seg_for != study.frame_of_reference_uid:
            raise StudyLoadError(
                f"{path}: the SEG's frame of reference {seg_for} is not the study's "
                f"{study.frame_of_reference_uid}: it was made on another series"
            )
        if seg_for and not study.frame_of_reference_uid:
            self.notes.append("the study has no frame of reference: placed by patient coordinates only")
        self.shared = (
            seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
        )
        self.pffg = seg.get("PerFrameFunctionalGroupsSequence") or []
        self._geom: dict[int, Any] = {}
        self._half: float | None = None

    def place(self, k: int, frame: np.ndarray, mask: np.ndarray) -> None:
        geom = self._geometry(k)
        if geom is not None and not self.study.is_2d:
            self._place_by_geometry(frame, geom, mask)
        else:
            self._place_by_source(k, frame, mask)

    def _geometry(self, k: int) -> Any:
        if k not in self._geom:
            from ..export.dicom_source import _first, _plane

            item = self.pffg[k] if k < len(self.pffg) else None
            pos = _first(item, "PlanePositionSequence") or _first(self.shared, "PlanePositionSequence")
            ori = _first(item, "PlaneOrientationSequence") or _first(self.shared, "PlaneOrientationSequence")
            mea = _first(item, "PixelMeasuresSequence") or _first(self.shared, "PixelMeasuresSequence")
            p, rdir, cdir, sp = (
                _plane(pos, ori, mea)
                if pos is not None and ori is not None and mea is not None
                else (None, None, None, None)
            )
            thick = float(getattr(mea, "SliceThickness", 0) or 0) if mea is not None else 0.0
            self._geom[k] = None if p is None else (p, rdir, cdir, sp, thick)
        return self._geom[k]

    def _place_by_geometry(self, frame: np.ndarray, geom: Any, mask: np.ndarray) -> None:
        """Pull: every study voxel within half a plane spacing of the frame takes its pixel."""
        pos, rdir, cdir, sp, _ = geom
        if self._place_on_grid(frame, geom, mask):
            return
        normal = np.cross(rdir, cdir)
        idx = self._voxels_near_plane(normal, float(normal @ pos), self._half_spacing(normal))
        if idx.size == 0:
            return
        a = self.study.affine_lps
        rel = idx @ a[:3, :3].T + a[:3, 3] - pos
        r = np.rint((rel @ cdir) / sp[0]).astype(np.int64)
        c = np.rint((rel @ rdir) / sp[1]).astype(np.int64)
        ok = (r >= 0) & (r < frame.shape[0]) & (c >= 0) & (c < frame.shape[1])
        idx, r, c = idx[ok], r[ok], c[ok]
        hit = frame[r, c]
        mask[tuple(idx[hit].T)] = True

    def _place_on_grid(self, frame: np.ndarray, geom: Any, mask: np.ndarray) -> bool:
        """Fast path: the frame's pixels are study voxels (same spacing, axis-aligned)."""
        from ..export.dicom_source import grid_indices

        pos, rdir, cdir, sp, _ = geom
        idx = grid_indices(self.inv, pos, rdir, cdir, sp, frame.shape)
        if idx is None:
            return False
        inside = np.ones(frame.shape, dtype=bool)
        for i in range(3):
            inside &= (idx[i] >= 0) & (idx[i] < mask.shape[i])
        hit = frame & inside
        mask[tuple(np.broadcast_to(i, frame.shape)[hit] for i in idx)] = True
        return True

    def _voxels_near_plane(self, normal: np.ndarray, offset: float, half: float) -> np.ndarray:
        """Indices (N, 3) of study voxels whose centre is within ``half`` mm of the plane.

        The distance is linear in the indices, so only a slab along the axis most
        aligned with the normal needs checking.
        """
        a = self.study.affine_lps
        shape = self.study.array.shape
        coef = normal @ a[:3, :3]  # mm along the normal per index step, per axis
        base = float(normal @ a[:3, 3]) - offset
        axis = int(np.argmax(np.abs(coef)))
        others = [b for b in range(3) if b != axis]
        lo_o = sum(min(0.0, coef[b] * (shape[b] - 1)) for b in others)
        hi_o = sum(max(0.0, coef[b] * (shape[b] - 1)) for b in others)
        ends = sorted([(-half - base - hi_o) / coef[axis], (half - base - lo_o) / coef[axis]])
        first, last = max(0, int(np.floor(ends[0]))), min(shape[axis] - 1, int(np.ceil(ends[1])))
        if first > last:
            return np.empty((0, 3), dtype=np.int64)
        ranges = [np.arange(n, dtype=float) for n in shape]
        ranges[axis] = np.arange(first, last + 1, dtype=float)
        dist = base + sum(
            coef[b] * ranges[b].reshape([-1 if i == b else 1 for i in range(3)]) for b in range(3)
        )
        idx = np.argwhere(np.abs(dist) <= half + 1e-6)
        idx[:, axis] += first
        return idx

    def _half_spacing(self, normal: np.ndarray) -> float:
        """Half the larger of the study step and the SEG's Spacing Between Slices (normal axis).

        The gaps between the SEG's own frames are not used: empty frames are usually
        omitted, so a gap can be a run of empty slices rather than a coarser grid.
        """
        if self._half is None:
            study_step = float(np.abs(normal @ self.study.affine_lps[:3, :3]).max())
            mea = _first_item(self.shared, "PixelMeasuresSequence")
            seg_step = float(getattr(mea, "SpacingBetweenSlices", 0) or 0) if mea is not None else 0.0
            self._half = 0.5 * max(study_step, seg_step, 1e-3)
        return self._half

    def _place_by_source(self, k: int, frame: np.ndarray, mask: np.ndarray) -> None:
        uid = self._source_uid(k)
        uids = list(self.study.sop_instance_uids or ())
        if self.study.is_2d:
            if uid and uids and uid not in uids:
                self._note(f"frame {k + 1} refers to image {uid}, not this study's: placed pixel for pixel")
            target = mask
        elif uid in uids and len(uids) == mask.shape[0]:
            target = mask[uids.index(uid)]
        else:
            raise StudyLoadError(
                f"{self.path}: frame {k + 1} has no geometry and refers to no image of the study"
            )
        if target.shape != frame.shape:
            raise StudyLoadError(
                f"{self.path}: frame {k + 1} is {frame.shape}, the study image {target.shape}"
            )
        target |= frame

    def _source_uid(self, k: int) -> str | None:
        item = self.pffg[k] if k < len(self.pffg) else None
        try:
            return str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        except (AttributeError, IndexError, TypeError):
            try:
                return str(
                    self.seg.ReferencedSeriesSequence[0]
                    .ReferencedInstanceSequence[k]
                    .ReferencedSOPInstanceUID
                )
            except (AttributeError, IndexError):
                return None

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.warning("%s: %s", self.path.name, text)


def _first_item(container: Any, keyword: str) -> Any:
    from ..export.dicom_source import _first

    return _first(container, keyword)


def _segment_codes(item: Any) -> dict[str, dict[str, str] | None]:
    def first(seq_name: str, container: Any = item) -> Any:
        seq = container.get(seq_name) if container is not None else None
        return seq[0] if seq else None

    type_item = first("SegmentedPropertyTypeCodeSequence")
    region = first("AnatomicRegionSequence")
    lat = (
        first("SegmentedPropertyTypeModifierCodeSequence", type_item)
        or first("SegmentedPropertyTypeModifierCodeSequence")
        or first("AnatomicRegionModifierSequence", region)
    )
    return {
        k: code_dict(concept_tuple(v))
        for k, v in (
            ("category", first("SegmentedPropertyCategoryCodeSequence")),
            ("type", type_item),
            ("anatomic_region", region),
            ("laterality", lat),
        )
    }


def _segment_color(item: Any) -> tuple[float, float, float] | None:
    lab = item.get("RecommendedDisplayCIELabValue")
    if lab is None:
        return None
    import highdicom as hd

    rgb = hd.color.CIELabColor.from_dicom_value(tuple(int(v) for v in lab)).to_rgb(clip=True)
    return tuple(round(float(v) / 255.0, 4) for v in rgb)  # type: ignore[return-value]
