"""What the product knows, as data: one entry per structure it can ground.

``resources/catalogue/{ct,brain,cxr}.json`` (schema: its README) is read by
:mod:`.data`; the vocabulary maps text to entries (:func:`resolve`); the planner and the
procedures read entries (locator, plausibility, measurements, criteria); the locators
that make the masks are functions registered by name (:mod:`.locators`, which states
the locator contract); :mod:`.sanity` checks every located mask against its entry.

Look-ups never raise for a missing structure: :func:`get` returns None and
:func:`resolve` says why nothing (or only a containing structure) matches.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Iterable

from .data import (
    CatalogueFile,
    CatalogueFileError,
    CriterionUse,
    Plausibility,
    Structure,
    bundled,
    load_catalogue,
    parse_entry,
)
from .locators import (
    Located,
    LocateContext,
    classical_use,
    get_locator,
    locate,
    locator_names,
    register_locator,
    unregister_locator,
)

__all__ = [
    "CatalogueFile", "CatalogueFileError", "CriterionUse", "Located", "LocateContext", "Plausibility",
    "Resolution", "Structure", "add_structure", "catalogue_modality", "classical_use", "code_of",
    "finding_procedure", "finding_structure",
    "finding_structures", "get", "get_locator", "lesion_search",
    "load_catalogue", "locate", "locator_names", "register_locator", "remove_structure", "resolve",
    "select_criteria", "structures", "unregister_locator",
]

#: Vocabulary backends whose labels are catalogue ids, per catalogue modality.
ID_BACKENDS = {"CT": ("ct_classical",), "CXR": ("cxr_classical",), "MR": ()}
#: Vocabulary backends whose labels a catalogue "default" entry can locate.
DEFAULT_BACKENDS = {"MR": ("meshnet104",)}
_ADDED: dict[str, dict[str, Structure]] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Resolution:
    """What a named anatomy maps to in one modality's catalogue.

    ``entries``: the structures that ARE the named anatomy (exact), or, when ``exact`` is
    False, the containing structures that the product can locate (never to be reported
    as the named one). ``reason``: why it is not exact, or why nothing matched.
    """

    entries: tuple[Structure, ...]
    exact: bool
    reason: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.entries)


def catalogue_modality(study: Any) -> str:
    """"CT", "MR" or "CXR" (any 2D radiograph) for a study: the catalogue file to read."""
    modality = str(getattr(study, "modality", "") or "").upper()
    return "CXR" if getattr(study, "is_2d", False) and modality != "CT" else modality


def structures(modality: str) -> tuple[Structure, ...]:
    """Every entry of ``modality`` (bundled, then added at run time); empty when unknown."""
    cat = bundled().get(modality)
    base = cat.structures if cat else ()
    added = tuple(_ADDED.get(modality, {}).values())
    ids = {e.id for e in added}
    return tuple(e for e in base if e.id not in ids) + added


def get(structure_id: str, modality: str | None = None) -> Structure | None:
    """The entry with this id (in ``modality``, or in any file), or None."""
    mods = [modality] if modality else list(bundled()) + [m for m in _ADDED if m not in bundled()]
    for m in mods:
        for e in structures(m):
            if e.id == structure_id:
                return e
    return None


def add_structure(entry: dict[str, Any] | Structure, modality: str | None = None) -> Structure:
    """Add (or replace) an entry at run time, e.g. a plug-in's structure or a test's.

    ``entry`` is a dict in the file schema (checked as a file entry is) or a Structure.
    """
    if isinstance(entry, dict):
        if modality is None:
            raise CatalogueFileError("add_structure: say which modality the entry is for")
        entry = parse_entry(entry, modality, "added entry")
    with _LOCK:
        _ADDED.setdefault(entry.modality, {})[entry.id] = entry
    return entry


def remove_structure(structure_id: str, modality: str) -> None:
    """Forget an entry added with :func:`add_structure` (bundled ones stay)."""
    with _LOCK:
        _ADDED.get(modality, {}).pop(structure_id, None)


def _side_ok(e: Structure, side: str | None) -> bool:
    return side not in ("left", "right") or e.side in (None, side)


def resolve(modality: str, anatomy: Any) -> Resolution:
    """The catalogue entries for a parsed anatomy term (an ``AnatomyRef``) on ``modality``.

    Order: entries that list the term themselves (so a new entry for "L1 vertebra"
    replaces the vocabulary's "containing bone" approximation), then the vocabulary's
    label map for the catalogue's backends (labels are entry ids; an "approximate"
    mapping gives containing structures, ``exact=False``), then the modality's default
    entry for terms its backend labels (brain regions).
    """
    if anatomy is None:
        return Resolution((), False, "no anatomy was named")
    term, side = anatomy.term, anatomy.side
    own = tuple(e for e in structures(modality) if term in e.terms and _side_ok(e, side))
    if own:
        return Resolution(own, True)
    cat = bundled().get(modality)
    approx_notes = cat.approximations if cat else {}
    for backend in ID_BACKENDS.get(modality, ()):
        ids = tuple(anatomy.backend_labels.get(backend, ()))
        found = tuple(e for i in ids if (e := get(i, modality)) is not None)
        if not found:
            continue
        approximate = backend in getattr(anatomy, "approximate_backends", ()) or term in approx_notes
        if not approximate:
            return Resolution(found, True)
        names = " + ".join(e.name for e in found)
        why = approx_notes.get(term) or (f"no method here locates the {_words(term, side)} itself; only the "
                                         f"containing {names} can be located, and that is not the {term}")
        return Resolution(found, False, why)
    default = cat.default if cat else None
    for backend in DEFAULT_BACKENDS.get(modality, ()):
        if default is not None and anatomy.backend_labels.get(backend):
            return Resolution((dataclasses.replace(default, id=f"{default.id}:{term}", name=term,
                                                   terms=(term,)),), True)
    return Resolution((), False, f"no {modality} method locates the {_words(term, side)}")


def finding_structures(modality: str, finding: str | None) -> tuple[Structure, ...]:
    """The entries a finding named without anatomy is looked for in ("nodule" -> the lungs
    on CT, "cardiomegaly" -> the heart on a radiograph); empty when none is declared."""
    cat = bundled().get(modality)
    ids = cat.finding_structures.get(finding or "", ()) if cat else ()
    return tuple(e for i in ids if (e := get(i, modality)) is not None)


def finding_procedure(modality: str, finding: str | None) -> dict | None:
    """The chain a diffuse finding has of its own on ``modality`` ({"procedure",
    "method", "anatomy"}: the anatomy terms it may be asked of), or None."""
    cat = bundled().get(modality)
    return (cat.finding_procedures.get(finding or "") if cat else None) or None


def finding_structure(modality: str, finding: str | None) -> Structure | None:
    """The first of :func:`finding_structures`, or None."""
    found = finding_structures(modality, finding)
    return found[0] if found else None


def lesion_search(modality: str, finding: str | None) -> tuple[str, ...]:
    """Ids of the structures searched for a lesion named without anatomy ("nodule")."""
    return tuple(e.id for e in finding_structures(modality, finding))


def code_of(entry: Structure) -> dict[str, str] | None:
    """The entry's SNOMED CT code: its own ``code``, else the vocabulary code of its first
    term (``resources/vocabulary/anatomy.json``, the codes DICOM SEG/SR use); None if none."""
    if entry.code:
        return dict(entry.code)
    if not entry.terms:
        return None
    from ..language import vocabulary

    code = vocabulary.anatomy_code(entry.terms[0])
    return code.to_dict() if code is not None else None


def _words(term: str, side: str | None) -> str:
    return f"{side} {term}" if side in ("left", "right") else term


def select_criteria(entry: Structure, finding: str | None,
                    measurements: Iterable[str] | None = None) -> tuple[CriterionUse, ...]:
    """The criteria for (finding, structure, measurement), chosen from data.

    The entry's declared uses for the finding come first; each is kept only if
    :func:`napari_medground.criteria.criteria_for` agrees that the criterion applies to
    this finding and this structure (its ``applies_to`` data) and, when ``measurements``
    is given, if the structure measures it. Nothing declared: the criteria whose data
    name both this finding and this structure and whose measurement the entry makes.
    Empty means "no published criterion": say so, never borrow another structure's.
    """
    from .. import criteria

    if not finding:
        return ()
    have = set(measurements) if measurements is not None else set(entry.measurements)
    term = entry.terms[0] if entry.terms else entry.name
    applicable = {c.id: c for c in criteria.criteria_for(finding=finding, anatomy=term) if c.applies_to}
    declared = [u for u in entry.criteria_for(finding) if u.criterion in applicable and u.measurement in have]
    if declared or entry.criteria_for(finding):
        return tuple(declared)
    named = [c for c in applicable.values()
             if c.measurement in have and _names_structure(c, term)]
    return tuple(CriterionUse(finding, c.id, c.measurement, c.short_name) for c in named)


def _names_structure(crit: Any, term: str) -> bool:
    from .. import criteria

    raw = criteria.criterion_record(crit.id).get("applies_to") or {}
    return bool(raw.get("anatomy")) and criteria._match_quality(term, raw["anatomy"]) >= 2
