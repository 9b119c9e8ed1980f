"""Choose a procedure and its backends from the study's modality and the query.

The structures come from the catalogue (``resources/catalogue``, :mod:`..catalogue`):
the anatomy is resolved to catalogue entries, and an anatomy that only maps to a
containing structure (a vertebra to all bone, a lobe to a lung) is answered "not
assessable" with the reason, never with the container's mask.

The choice itself is shown to the clinician (the locate step's detail), so each plan
carries its reason in plain words, and a query that nothing here can judge gets a plan
that says what is missing instead of a guess.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import catalogue
from ..language.query import AnatomyRef, Query
from ..study.model import Study

LESION_FINDINGS = {"nodule", "mass", "lesion", "tumour", "tumor", "metastasis", "cyst", "neoplasm"}
ENLARGEMENT = {"enlargement", "dilatation", "dilation", "hypertrophy"}
ATROPHY = {"atrophy", "volume loss"}
VENTRICLE_FINDINGS = {"hydrocephalus", "ventriculomegaly"}
XRAY_MODALITIES = {"CR", "DX", "DR", "RG", "MG", "OT", "XC", ""}


@dataclass(frozen=True)
class Plan:
    """What to run for one query, and why."""

    procedure: str  # "brain_volume", "brain_atrophy", "brain_ventricles", "ct_organ", "ct_structure",
    # "ct_lesion", "cxr_heart", "cxr_lungs", "prompt", "out_of_scope", "not_understood"
    reason: str
    anatomy: AnatomyRef | None = None
    organ: str | None = None  # catalogue structure id(s) joined by "+"
    structures: tuple[str, ...] = ()  # the same ids, one per entry (resources/catalogue)


def describe_study(study: Study) -> str:
    """"T1 brain MRI", "CT", "chest radiograph", in the words the plan uses."""
    if study.is_2d:
        return f"2D {study.modality} image" if study.modality not in XRAY_MODALITIES else "2D radiograph"
    return {"CT": "CT volume", "MR": "MR volume"}.get(study.modality, f"{study.modality} volume")


def plan_query(study: Study, query: Query, *, has_box: bool = False) -> Plan:
    """The procedure for one query on this study."""
    what = describe_study(study)
    anatomy = query.anatomy[0] if query.anatomy else None
    if has_box:  # the box says where; the text only names it
        return Plan("prompt", f"{what} with a box drawn by the clinician -> LiteMedSAM inside the box.",
                    anatomy)
    if not query.understood:
        words = ", ".join(query.unknown_words) or query.text or "(empty)"
        return Plan("not_understood", f"The text was not understood ({words}); nothing was searched.")
    finding = (query.finding or "").lower() or None
    if study.is_2d:
        return _plan_xray(study, query, anatomy, finding, what)
    if study.modality == "CT":
        return _plan_ct(query, anatomy, finding, what)
    if study.modality == "MR":
        return _plan_mr(query, anatomy, finding, what)
    return _out_of_scope(query, f"no backend reads {study.modality} {what}s")


def _labels(anatomy: AnatomyRef | None, backend: str) -> tuple[str, ...]:
    return tuple(anatomy.backend_labels.get(backend, ())) if anatomy else ()


def _plan_mr(query: Query, anatomy: AnatomyRef | None, finding: str | None, what: str) -> Plan:
    brain = _labels(anatomy, "meshnet104")
    res = catalogue.resolve("MR", anatomy)
    entry = res.entries[0] if res.entries else None
    term = anatomy.term if anatomy else ""
    ids = res.ids
    if finding in VENTRICLE_FINDINGS or (finding in ENLARGEMENT and entry is not None
                                         and entry.procedure == "brain_ventricles"):
        return Plan("brain_ventricles", f"{what} -> MeshNet 104 regions (brainchop): lateral ventricles, "
                    "Evans index and ventricular volume.", anatomy, structures=ids)
    if finding in ATROPHY and brain:
        return Plan("brain_atrophy", f"{what} -> MeshNet 104 regions (brainchop): {term} volumes on both "
                    "sides and their asymmetry.", anatomy, structures=ids)
    if brain and finding is None:
        return Plan("brain_volume", f"{what} -> MeshNet 104 regions (brainchop): {', '.join(brain)}.",
                    anatomy, structures=ids)
    if finding in LESION_FINDINGS:
        return _out_of_scope(query, "focal lesions on MR need a box prompt: draw a box around it (or --box)")
    if anatomy and not brain:
        return _out_of_scope(query, f"the {_side_term(anatomy)} is not covered by the brain MRI models")
    return _out_of_scope(query, f"no MR backend judges '{finding}'")


def _plan_ct(query: Query, anatomy: AnatomyRef | None, finding: str | None, what: str) -> Plan:
    """CT: the catalogue entries for the anatomy (exact, or honestly not assessable)."""
    from .quant_plan import select

    quant = select(query)
    if quant is not None:
        ids = quant.structures
        if anatomy is not None and anatomy.side in ("left", "right"):  # "right renal calculus"
            ids = tuple(i for i in ids if not i.endswith(("_left", "_right")) or i.endswith(anatomy.side)) or ids
        return Plan("ct_quant", f"{what} -> {quant.title}: locate, measure, compare with the published "
                    "criterion.", anatomy, quant.id, ids)
    res = catalogue.resolve("CT", anatomy)
    if finding in LESION_FINDINGS:
        ids = res.ids or catalogue.lesion_search("CT", finding)
        if not ids:
            return _out_of_scope(query, "say where to look (e.g. 'liver lesion', 'nodule in the right lung')")
        organ = "+".join(ids)
        return Plan("ct_lesion", f"{what} -> organ mask ({_names(ids)}), density-based "
                    "candidates, LiteMedSAM refinement, RECIST measurement.", anatomy, organ, ids)
    if catalogue.finding_procedure("CT", finding) is not None:
        return _plan_ct_finding(query, anatomy, finding, what)
    if finding is not None and finding not in ENLARGEMENT:
        return _out_of_scope(query, f"no CT backend detects '{finding}'")
    if not res.entries:
        where = _side_term(anatomy) if anatomy else "this structure"
        return _out_of_scope(query, f"no CT backend segments the {where}")
    if not res.exact:
        return _out_of_scope(query, res.reason)
    ids = res.ids
    procs = {e.procedure for e in res.entries}
    procedure = procs.pop() if len(procs) == 1 else "ct_structure"
    methods = list(dict.fromkeys(e.method for e in res.entries))
    if procedure == "ct_structure":
        reason = f"{what} -> classical CT anatomy (HU rules and morphology): {_names(ids)}."
    else:
        reason = f"{what} -> {_names(ids)}: {'; '.join(methods)}."
    return Plan(procedure, reason, anatomy, "+".join(ids), ids)


def _plan_ct_finding(query: Query, anatomy: AnatomyRef | None, finding: str, what: str) -> Plan:
    """A diffuse finding measured in its own structures (emphysema -> both lungs)."""
    spec = catalogue.finding_procedure("CT", finding)  # resources/catalogue/ct.json "finding_procedures"
    procedure, how, where = spec["procedure"], spec["method"], tuple(spec.get("anatomy", ()))
    ids = tuple(e.id for e in catalogue.finding_structures("CT", finding))
    if anatomy is not None and anatomy.term not in where:
        return _out_of_scope(query, f"'{finding}' is measured on CT only in the {', '.join(where)}, "
                             f"not the {_side_term(anatomy)}")
    if anatomy is not None:
        named = set(catalogue.resolve("CT", anatomy).ids)
        if named and not named & set(ids):
            return _out_of_scope(query, f"'{finding}' is measured in {_names(ids)}, not the {_side_term(anatomy)}")
        ids = tuple(i for i in ids if i in named) or ids
    if not ids:
        return _out_of_scope(query, f"no CT structure is listed for '{finding}'")
    return Plan(procedure, f"{what} -> {_names(ids)}: {how}.", anatomy, "+".join(ids), ids)


def _names(ids: tuple[str, ...]) -> str:
    """Catalogue ids in plain words ("left lung + right lung")."""
    out = []
    for i in ids:
        e = catalogue.get(i, "CT")
        out.append(e.name if e is not None else pretty(i))
    return " + ".join(out)


def _plan_xray(study: Study, query: Query, anatomy: AnatomyRef | None, finding: str | None,
               what: str) -> Plan:
    if study.modality not in XRAY_MODALITIES:
        return _out_of_scope(query, f"no backend reads 2D {study.modality} images")
    res = catalogue.resolve("CXR", anatomy)
    entry = res.entries[0] if res.entries and res.exact else catalogue.finding_structure("CXR", finding)
    if entry is not None and entry.procedure == "cxr_heart":
        return Plan("cxr_heart", f"{what} -> {entry.method}.", anatomy, structures=(entry.id,))
    if entry is not None and finding is None:
        return Plan(entry.procedure, f"{what} -> {entry.method}.", anatomy, structures=res.ids)
    if finding:
        return _out_of_scope(query, f"no local model detects '{finding}' on radiographs")
    if res.entries and not res.exact:
        return _out_of_scope(query, res.reason)
    return _out_of_scope(query, f"the {_side_term(anatomy)} is not covered on radiographs")


def pretty(names: str) -> str:
    """"lung_left+lung_right" -> "left lung + right lung" (backend names in plain words)."""
    words = []
    for n in names.split("+"):
        part, _, side = n.rpartition("_")
        words.append(f"{side} {part}" if side in ("left", "right") and part else n.replace("_", " "))
    return " + ".join(words)


def _out_of_scope(query: Query, why: str) -> Plan:
    return Plan("out_of_scope", f"Cannot assess '{query.text}': {why}.")


def _side_term(anatomy: AnatomyRef | None) -> str:
    if anatomy is None:
        return "structure"
    return f"{anatomy.side} {anatomy.term}" if anatomy.side in ("left", "right") else anatomy.term
