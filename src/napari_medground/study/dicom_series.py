"""Group DICOM headers into series and choose the one to load.

A series is the files that share a SeriesInstanceUID, split further when one UID mixes
images that cannot form one volume: a different ImageType (e.g. LOCALIZER next to
AXIAL), each multi-frame file on its own, and each image without patient geometry
(projection radiographs, secondary captures) on its own. Non-image objects (RTSTRUCT,
RTPLAN, SR, SEG, PR, KO, ...) are grouped by UID and kind and only listed.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StudyLoadError
from .dicom_meta import is_two_dimensional, short_uid
from .dicom_scan import DicomHeader
from .model import SeriesSummary


@dataclass
class SeriesGroup:
    """Files that form one loadable image (or one listed non-image object series)."""

    series_uid: str | None
    kind: str
    headers: list[DicomHeader] = field(default_factory=list)
    part: str = ""  # what split it from other groups of the same UID ("" when not split)

    @property
    def n_images(self) -> int:
        return sum(h.n_frames for h in self.headers) if self.kind == "image" else 0

    @property
    def modality(self) -> str:
        return self.headers[0].modality

    @property
    def description(self) -> str:
        desc = str(self.headers[0].ds.get("SeriesDescription") or "")
        return f"{desc} [{self.part}]".strip() if self.part else desc

    def summary(self) -> SeriesSummary:
        return SeriesSummary(
            series_uid=self.series_uid, modality=self.modality, description=self.description,
            n_files=len(self.headers), kind=self.kind,
        )

    def label(self) -> str:
        n = self.n_images if self.kind == "image" else len(self.headers)
        what = "images" if self.kind == "image" else "files"
        desc = f" '{self.description}'" if self.description else ""
        return f"{self.modality if self.kind == 'image' else self.kind}{desc} ({n} {what})"


def group_headers(headers: list[DicomHeader]) -> list[SeriesGroup]:
    """Split headers into series groups (see module docstring); order follows file paths."""
    groups: dict[tuple, SeriesGroup] = {}
    for h in sorted(headers, key=lambda h: str(h.path)):
        if h.kind != "image":
            key = (h.series_uid, h.kind)
        elif h.n_frames > 1 or h.is_enhanced or is_two_dimensional(h):
            key = (h.series_uid, "file", str(h.path))
        else:
            key = (h.series_uid, "stack", h.image_type[:3])
        if key not in groups:
            groups[key] = SeriesGroup(series_uid=h.series_uid, kind=h.kind)
        groups[key].headers.append(h)
    out = list(groups.values())
    _name_parts(out)
    return out


def _name_parts(groups: list[SeriesGroup]) -> None:
    """Label groups that share a UID by what tells them apart (ImageType or file name)."""
    by_uid = Counter(g.series_uid for g in groups if g.kind == "image")
    for g in groups:
        if g.kind != "image" or by_uid[g.series_uid] < 2:
            continue
        h = g.headers[0]
        if len(g.headers) == 1 and (h.n_frames > 1 or is_two_dimensional(h)):
            g.part = h.path.name
        else:
            g.part = "\\".join(h.image_type[:3]) or "no ImageType"


def choose_series(
    groups: list[SeriesGroup], series_uid: str | None, where: Path
) -> tuple[SeriesGroup, list[SeriesGroup]]:
    """The group to load (largest image group, or the largest with ``series_uid``) and the rest."""
    images = [g for g in groups if g.kind == "image"]
    if not images:
        found = ", ".join(f"{k} x{n}" for k, n in Counter(g.kind for g in groups for _ in g.headers).items())
        raise StudyLoadError(f"no image series in {where}: found {found}")
    pool = images
    if series_uid is not None:
        pool = [g for g in images if g.series_uid == series_uid]
        if not pool:
            avail = "; ".join(f"{g.series_uid} = {g.label()}" for g in images[:8])
            raise StudyLoadError(f"{where}: no image series with SeriesInstanceUID {series_uid}; available: {avail}")
    chosen = max(pool, key=lambda g: g.n_images)  # max() keeps the first of equals: path order
    others = [g for g in groups if g is not chosen]
    return chosen, others


def mixed_warning(where: Path, chosen: SeriesGroup, others: list[SeriesGroup]) -> str | None:
    """One warning line when other series were found next to the chosen one."""
    if not others:
        return None
    listed = ", ".join(g.label() for g in others[:6]) + (f", and {len(others) - 6} more" if len(others) > 6 else "")
    return (
        f"{where.name}: {len(others) + 1} series found; loaded {chosen.label()} "
        f"(series {short_uid(chosen.series_uid)}); also found: {listed}"
    )
