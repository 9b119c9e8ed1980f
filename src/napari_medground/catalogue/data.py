"""The catalogue as data: read ``resources/catalogue/*.json`` once, look entries up.

Each file is ``{"modality", "description", "structures": [entry, ...], "default"?,
"approximations"?}`` (schema: ``resources/catalogue/README.md``). An entry becomes a
frozen :class:`Structure`; a broken file raises :class:`CatalogueFileError` naming the
file, the entry and the problem. Nothing here imports a model: the catalogue is data
that the planner, the procedures, the sanity checks and the locators read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import MedgroundError
from ..resources import resource_path
from ..schema import check_fields

SIDES = (None, "left", "right")
_REQUIRED = {"id": str, "name": str, "terms": list, "backend": str, "locator": str, "procedure": str,
             "method": str}
_OPTIONAL = {"side": str, "adjective": str, "locator_args": dict, "finding_names": dict, "plausibility": dict,
             "measurements": list, "criteria": list, "code": dict, "note": str, "lesion_search": dict}
_PLAUSIBILITY = {"volume_ml", "hu_mean", "min_length_mm", "position"}
_POSITION = {"side": ("left", "right"), "ap": ("anterior", "posterior")}


class CatalogueFileError(MedgroundError):
    """A catalogue file that cannot be read or breaks the schema (message names the file)."""


@dataclass(frozen=True)
class Plausibility:
    """Ranges a located structure must fall in (adult anatomy and CT physics, see README).

    ``volume_ml``: (low, high) whole-structure volume in mL (per side for paired brain
    regions); a mask cut by the field of view may fall below ``low``.
    ``hu_mean``: (low, high) mean intensity in HU (CT only).
    ``min_length_mm``: craniocaudal extent (patient S-I) below which the mask is partial.
    ``side``: "left"/"right": the centroid must lie on that side of the body's midline,
    judged in patient LPS x (from the affine, never from the array position).
    ``ap``: "anterior"/"posterior": the centroid must lie in that half of the body (LPS y).
    """

    volume_ml: tuple[float, float] | None = None
    hu_mean: tuple[float, float] | None = None
    min_length_mm: float | None = None
    side: str | None = None
    ap: str | None = None


@dataclass(frozen=True)
class CriterionUse:
    """One criterion that applies to a structure for a finding, on one of its measurements.

    ``direction``: for a "range" criterion, which side of the range means the finding
    ("above" for enlargement, "below" for atrophy); None: the criterion's own verdict.
    """

    finding: str
    criterion: str
    measurement: str
    label: str = ""
    direction: str | None = None


@dataclass(frozen=True)
class Structure:
    """One catalogue entry: a structure the product can ground, and how.

    ``id`` is unique per modality file and is the name the masks and the plan carry
    ("liver", "kidney_left"); ``terms`` are the anatomy vocabulary terms it answers
    (``resources/vocabulary/anatomy.json``), with ``side`` for one side of a paired term.
    ``locator`` names a function in the locator registry (:mod:`.locators`) called with
    ``locator_args``.
    """

    id: str
    name: str
    modality: str
    terms: tuple[str, ...]
    backend: str
    locator: str
    procedure: str
    method: str
    side: str | None = None
    adjective: str = ""
    locator_args: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    finding_names: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    plausibility: Plausibility = Plausibility()
    measurements: tuple[str, ...] = ()
    criteria: tuple[CriterionUse, ...] = ()
    code: dict[str, str] | None = field(default=None, hash=False, compare=False)
    #: how focal lesions are searched in it: ``kind`` the density model of a lesion query
    #: with no density named ("nodule": solid nodules, Fleischner bands), ``envelope``
    #: also search its convex envelope and hilum for masses left out of the organ mask
    lesion_search: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def criteria_for(self, finding: str | None) -> tuple[CriterionUse, ...]:
        """The criteria this entry declares for ``finding`` (canonical finding word)."""
        return tuple(c for c in self.criteria if finding and c.finding == finding)


@dataclass(frozen=True)
class CatalogueFile:
    """One modality's entries, its default entry (or None) and its approximation notes."""

    modality: str
    structures: tuple[Structure, ...]
    default: Structure | None
    approximations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    finding_structures: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)
    #: diffuse findings with their own chain: finding -> {"procedure", "method", "anatomy": [terms]}
    finding_procedures: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False, compare=False)
    path: Path | None = None


def load_catalogue(folder: Path | None = None) -> dict[str, CatalogueFile]:
    """Read and check every ``*.json`` in ``folder`` (default: the bundled catalogue).

    Returns {modality: CatalogueFile}. Raises CatalogueFileError on unreadable JSON,
    schema errors and duplicate ids.
    """
    folder = Path(folder) if folder is not None else resource_path("catalogue")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise CatalogueFileError(f"{folder}: no catalogue files (*.json) found; reinstall napari-medground")
    out: dict[str, CatalogueFile] = {}
    for path in files:
        cat = _read_file(path)
        if cat.modality in out:
            raise CatalogueFileError(f"{path}: modality {cat.modality} already defined by "
                                     f"{out[cat.modality].path.name}; one file per modality")
        out[cat.modality] = cat
    return out


def _read_file(path: Path) -> CatalogueFile:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueFileError(f"{path}: not readable JSON ({exc}); fix the file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("structures"), list) or not doc.get("modality"):
        raise CatalogueFileError(f"{path}: expected an object with 'modality' and a 'structures' list")
    modality = str(doc["modality"])
    entries = tuple(parse_entry(e, modality, f"{path}: entry {i}") for i, e in enumerate(doc["structures"]))
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise CatalogueFileError(f"{path}: id {e.id!r} used twice; ids must be unique")
        seen.add(e.id)
    default = doc.get("default")
    if default is not None:
        default = parse_entry({"terms": [], **default}, modality, f"{path}: default")
    approx = doc.get("approximations") or {}
    if not isinstance(approx, dict) or not all(isinstance(v, str) for v in approx.values()):
        raise CatalogueFileError(f"{path}: 'approximations' must map a term to a reason")
    found = doc.get("finding_structures") or {}
    if not isinstance(found, dict) or not all(isinstance(v, list) and all(i in seen for i in v)
                                              for v in found.values()):
        raise CatalogueFileError(f"{path}: 'finding_structures' must map a finding to a list of entry ids "
                                 "of this file")
    findings = {k: tuple(v) for k, v in found.items()}
    procs = doc.get("finding_procedures") or {}
    if not isinstance(procs, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("procedure"), str) and isinstance(v.get("method"), str)
            and isinstance(v.get("anatomy", []), list) for v in procs.values()):
        raise CatalogueFileError(f"{path}: 'finding_procedures' must map a finding to "
                                 "{'procedure': str, 'method': str, 'anatomy': [terms]}; fix the file")
    return CatalogueFile(modality, entries, default, dict(approx), findings, procs, path)


def parse_entry(entry: Any, modality: str, where: str = "catalogue entry") -> Structure:
    """Check one entry dict against the schema and build its :class:`Structure`."""
    if not isinstance(entry, dict):
        raise CatalogueFileError(f"{where}: expected an object; fix the file")
    where = f"{where} ({entry.get('id', '?')})"

    def fail(problem: str):
        raise CatalogueFileError(f"{where}: {problem}; fix the file")

    check_fields(entry, _REQUIRED, _OPTIONAL, fail)
    if entry.get("side") not in SIDES:
        fail("'side' must be 'left', 'right' or absent")
    return Structure(
        id=entry["id"], name=entry["name"], modality=modality, terms=tuple(str(t) for t in entry["terms"]),
        backend=entry["backend"], locator=entry["locator"], procedure=entry["procedure"],
        method=entry["method"],
        side=entry.get("side"), adjective=entry.get("adjective", ""),
        locator_args=dict(entry.get("locator_args") or {}),
        finding_names=dict(entry.get("finding_names") or {}),
        plausibility=_plausibility(entry.get("plausibility") or {}, fail),
        measurements=tuple(entry.get("measurements") or ()),
        criteria=tuple(_criterion_use(c, fail) for c in entry.get("criteria") or ()),
        code=entry.get("code"),
        lesion_search=dict(entry.get("lesion_search") or {}),
    )


def _pair(v: Any, name: str, fail) -> tuple[float, float] | None:
    if v is None:
        return None
    if (not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v)
            or v[0] > v[1]):
        fail(f"plausibility '{name}' must be [low, high] numbers with low <= high")
    return float(v[0]), float(v[1])


def _plausibility(p: dict[str, Any], fail) -> Plausibility:
    if set(p) - _PLAUSIBILITY:
        fail(f"unknown plausibility keys {sorted(set(p) - _PLAUSIBILITY)}")
    pos = p.get("position") or {}
    for k, v in pos.items():
        if k not in _POSITION or v not in _POSITION[k]:
            fail(f"plausibility position {k!r}: {v!r} is not one of {_POSITION.get(k, ())}")
    length = p.get("min_length_mm")
    if length is not None and not isinstance(length, (int, float)):
        fail("plausibility 'min_length_mm' must be a number")
    return Plausibility(volume_ml=_pair(p.get("volume_ml"), "volume_ml", fail),
                        hu_mean=_pair(p.get("hu_mean"), "hu_mean", fail),
                        min_length_mm=float(length) if length is not None else None,
                        side=pos.get("side"), ap=pos.get("ap"))


def _criterion_use(c: Any, fail) -> CriterionUse:
    keys = ("finding", "criterion", "measurement")
    if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in keys):
        fail("each 'criteria' item needs string 'finding', 'criterion' and 'measurement'")
    if c.get("direction") not in (None, "above", "below"):
        fail("criteria 'direction' must be 'above', 'below' or absent")
    return CriterionUse(c["finding"], c["criterion"], c["measurement"], c.get("label", ""),
                        c.get("direction"))


@lru_cache(maxsize=1)
def bundled() -> dict[str, CatalogueFile]:
    """The bundled catalogue, read once."""
    return load_catalogue()
