"""The catalogue: data checked on load, every name resolvable, exact-or-honest resolution,
criteria chosen from data, and a structure added through the catalogue alone."""
from __future__ import annotations

import json

import numpy as np
import pytest

from napari_medground import catalogue, criteria
from napari_medground.catalogue import CatalogueFileError, Located, sanity
from napari_medground.language import parse
from napari_medground.result import FindingStatus, StepKind


def _anatomy(text: str):
    q = parse(text).queries[0]
    return q.anatomy[0] if q.anatomy else None


def test_bundled_entries_name_registered_locators_procedures_and_criteria():
    from napari_medground.reasoning.api import _BUILDERS

    known = {c.id for c in criteria.list_criteria()}
    for modality in ("CT", "MR", "CXR"):
        entries = catalogue.structures(modality)
        assert entries, modality
        for e in entries:
            assert catalogue.get_locator(e.locator) is not None, (e.id, e.locator)
            assert e.procedure in _BUILDERS, (e.id, e.procedure)
            for use in e.criteria:
                assert use.criterion in known, (e.id, use.criterion)
                assert use.measurement in e.measurements, (e.id, use.measurement)
            # every declared criterion is also named for this finding and structure by its own data
            for finding in {u.finding for u in e.criteria}:
                kept = catalogue.select_criteria(e, finding)
                assert len(kept) == len(e.criteria_for(finding)), (e.id, finding)


def test_every_catalogue_term_is_in_the_vocabulary():
    from napari_medground.language import vocabulary

    anatomy = vocabulary.load_vocabulary().anatomy
    for modality in ("CT", "MR", "CXR"):
        for e in catalogue.structures(modality):
            assert set(e.terms) <= set(anatomy), (e.id, set(e.terms) - set(anatomy))


def test_codes_come_from_the_vocabulary():
    assert catalogue.code_of(catalogue.get("liver", "CT"))["value"] == "10200004"
    assert catalogue.code_of(catalogue.get("subcutaneous_fat", "CT"))["meaning"] == "Fat"
    for modality in ("CT", "MR", "CXR"):
        for e in catalogue.structures(modality):
            code = catalogue.code_of(e)
            assert code is None or code["scheme"] == "SCT", e.id


def test_vocabulary_ct_labels_are_catalogue_ids():
    from napari_medground.language import vocabulary

    maps = vocabulary.load_vocabulary().backend_maps
    for backend, modality in (("ct_classical", "CT"), ("cxr_classical", "CXR")):
        used = {n for entry in maps[backend].values() for k in ("left", "right", "any")
                for n in entry.get(k, ())}
        ids = {e.id for e in catalogue.structures(modality)}
        assert used <= ids, sorted(used - ids)


def test_missing_names_never_raise():
    assert catalogue.get("no_such_structure") is None
    assert catalogue.structures("PET") == ()
    entry = catalogue.parse_entry({"id": "x", "name": "x", "terms": [], "backend": "b", "locator": "no.such",
                                   "procedure": "ct_structure", "method": "m"}, "CT")
    loc = catalogue.locate(None, entry)
    assert not loc.found and "no locator" in loc.reason


def test_a_broken_file_names_the_file_and_the_entry(tmp_path):
    (tmp_path / "ct.json").write_text(json.dumps({"modality": "CT", "structures": [
        {"id": "liver", "name": "liver", "terms": ["liver"], "backend": "ct_classical", "locator": "ct.organ",
         "procedure": "ct_organ", "method": "m", "plausibility": {"volume_ml": [3000, 600]}}]}))
    with pytest.raises(CatalogueFileError, match=r"ct\.json: entry 0 \(liver\).*volume_ml"):
        catalogue.load_catalogue(tmp_path)
    (tmp_path / "ct.json").write_text("{not json")
    with pytest.raises(CatalogueFileError, match="not readable JSON"):
        catalogue.load_catalogue(tmp_path)


@pytest.mark.parametrize("text", ["C5 vertebra", "T4 vertebra", "right femoral head",
                                  "right upper lobe", "left lower lobe", "spine"])
def test_containing_structures_are_not_the_structure(text):
    res = catalogue.resolve("CT", _anatomy(text))
    assert not res.exact and res.reason
    assert res.entries  # the container is known, and named in the reason
    assert any(e.name in res.reason for e in res.entries) or "lobe" in res.reason


@pytest.mark.parametrize("text,ids", [("liver", ("liver",)), ("right kidney", ("kidney_right",)),
                                      ("kidneys", ("kidney_left", "kidney_right")),
                                      ("left lung", ("lung_left",)),
                                      ("subcutaneous fat", ("subcutaneous_fat",)), ("body fat", ("fat",))])
def test_exact_structures_resolve_to_their_entries(text, ids):
    res = catalogue.resolve("CT", _anatomy(text))
    assert res.exact and res.ids == ids


def test_one_entry_turns_an_approximation_into_an_exact_structure():
    a = _anatomy("C5 vertebra")  # (L1-L5, T12 and the sacrum have their own entries now)
    assert not catalogue.resolve("CT", a).exact
    catalogue.add_structure({"id": "vertebra_C5", "name": "C5 vertebra", "terms": ["C5 vertebra"],
                             "backend": "ct_classical", "locator": "test.none", "procedure": "ct_structure",
                             "method": "a vertebra locator"}, "CT")
    try:
        res = catalogue.resolve("CT", a)
        assert res.exact and res.ids == ("vertebra_C5",)
    finally:
        catalogue.remove_structure("vertebra_C5", "CT")
    assert not catalogue.resolve("CT", a).exact


def test_criteria_are_chosen_by_finding_structure_and_measurement():
    ids = lambda e, f: [u.criterion for u in catalogue.select_criteria(e, f)]  # noqa: E731
    assert ids(catalogue.get("kidney_right", "CT"), "enlargement") == ["kidney_length"]
    assert ids(catalogue.get("liver"), "enlargement") == ["hepatomegaly_volume"]
    assert set(ids(catalogue.get("hippocampus"), "atrophy")) == {"hippocampal_volume_typical",
                                                                  "hippocampal_asymmetry"}
    # no published criterion: never the hippocampal band
    assert ids(catalogue.get("thalamus"), "atrophy") == []
    assert ids(catalogue.get("spleen"), "atrophy") == []
    # without the measurement the criterion cannot apply
    kidney = catalogue.get("kidney_right")
    assert catalogue.select_criteria(kidney, "enlargement", measurements=["volume"]) == ()


def test_sanity_checks_volume_density_and_side_from_the_affine():
    from napari_medground.study.model import Study

    hu = np.full((20, 40, 40), 40, np.int16)
    body = np.zeros(hu.shape, bool)
    body[:, 5:35, 5:35] = True
    organ = np.zeros(hu.shape, bool)
    organ[5:15, 15:25, 8:16] = True  # low x index
    entry = catalogue.get("kidney_left")
    for flip, expected_side in ((1.0, "right"), (-1.0, "left")):  # LPS +x = patient left
        affine = np.array([[0, 0, 5.0 * flip, 0], [0, 5.0, 0, 0], [5.0, 0, 0, 0], [0, 0, 0, 1]])
        study = Study(array=hu, affine_lps=affine, modality="CT")
        checks = {c.name: c for c in sanity.check_structure(entry, organ, study, body=body)}
        assert checks["side"].passed is (expected_side == "left"), checks["side"].detail
        assert checks["density"].passed
    big = np.ones(hu.shape, bool)
    study = Study(array=hu, affine_lps=np.diag([5.0, 5.0, 5.0, 1.0]), modality="CT")
    vol = {c.name: c for c in sanity.check_structure(entry, big, study)}["volume"]
    assert vol.passed is False and "above" in vol.detail
    status, conf, text = sanity.apply_checks(FindingStatus.PRESENT, 0.9, "Left kidney.", (vol,))
    assert status == FindingStatus.UNCERTAIN and conf <= sanity.FAILED_CHECK_CONFIDENCE and "plausib" in text


# ------------------------------------------------------------------ end to end
def _canal_locator(study, entry, ctx) -> Located:
    """The spinal canal by HU rules: fluid-density voxels enclosed by bone in an axial slice."""
    from napari_medground.catalogue import classical_use
    from napari_medground.models import ct_anatomy
    from napari_medground.models.ct_anatomy_frame import fill_holes_2d, make_frame

    frame = make_frame(study)
    bone = np.asarray(frame.to_canonical(ct_anatomy.segment_bone(study)), bool)
    hu = frame.to_canonical(study.array)
    ring = bone & (hu > 500)  # cortical ring only: marrow and canal become holes
    canal = fill_holes_2d(ring) & ~ring & (hu > -20) & (hu < 60)
    mask = frame.to_study(canal)
    return Located(mask if mask.any() else None, 0.8, "fluid enclosed by the vertebral ring",
                   (classical_use("ct_classical"),), partial=sanity.cut_by_fov(mask))


@pytest.fixture()
def canal_entry():
    catalogue.register_locator("test.spinal_canal", _canal_locator)
    entry = {"id": "test_spinal_canal", "name": "spinal canal", "terms": ["spinal cord"],
             "backend": "ct_classical", "locator": "test.spinal_canal", "procedure": "ct_structure",
             "method": "fluid enclosed by the vertebral ring (test locator)",
             "plausibility": {"volume_ml": [1, 200], "hu_mean": [-20, 60]},
             "measurements": ["volume", "mean", "length"]}
    catalogue.add_structure(entry, "CT")
    yield entry
    catalogue.remove_structure("test_spinal_canal", "CT")
    catalogue.unregister_locator("test.spinal_canal")


@pytest.fixture(scope="module")
def phantom():
    from napari_medground.phantom import make_ct_phantom

    return make_ct_phantom((40, 96, 96), (4.0, 3.5, 3.5))


def test_without_its_entry_the_structure_is_not_assessable(phantom):
    from napari_medground.reasoning import ground

    r = ground(phantom[0], "spinal cord", device="cpu")
    f = r.findings[0]
    assert f.status == FindingStatus.NOT_ASSESSABLE and r.masks.get(f.mask_id or "") is None


def test_a_structure_added_through_the_catalogue_is_grounded_end_to_end(phantom, canal_entry):
    from napari_medground.reasoning import ground

    study, truth = phantom
    r = ground(study, "spinal cord", device="cpu")
    f = r.findings[0]
    assert f.status == FindingStatus.PRESENT, r.conclusion.text
    # the phantom's canal: a 6 mm radius cylinder over the whole scan (160 mm)
    expected = np.pi * 6.0 ** 2 * study.shape[0] * 4.0 / 1000.0
    assert f.measurement("volume").value == pytest.approx(expected, rel=0.4)
    locate = next(s for s in r.steps if s.kind == StepKind.LOCATE)
    assert locate.evidence.extra["models"] == ["ct_classical"] and locate.evidence.extra["partial"]
    assert [m.name for m in r.models] == ["ct_classical"]


def test_a_mask_failing_its_own_checks_is_never_present(phantom, canal_entry):
    from napari_medground.reasoning import ground

    study, _ = phantom
    catalogue.add_structure({**canal_entry, "plausibility": {"volume_ml": [0.1, 1.0]}}, "CT")
    r = ground(study, "spinal cord", device="cpu")
    f = r.findings[0]
    assert f.status == FindingStatus.UNCERTAIN and f.confidence <= sanity.FAILED_CHECK_CONFIDENCE
    assert "plausibility" in r.conclusion.text and "above" in r.conclusion.text


def _truth_locator(mask):
    def locate(study, entry, ctx) -> Located:
        from napari_medground.catalogue import classical_use

        return Located(mask, 0.9, "phantom truth (test)", (classical_use("ct_classical"),),
                       partial=sanity.cut_by_fov(mask))

    return locate


@pytest.mark.parametrize("grow_slices,expected", [(0, FindingStatus.ABSENT), (8, FindingStatus.PRESENT)])
def test_enlarged_kidney_is_judged_by_the_kidney_length_criterion(phantom, grow_slices, expected):
    """The bundled entry with its locator swapped for the phantom's truth (a kidney grown
    head to foot, painted at kidney density): the criterion comes from the catalogue, the
    verdict from the measured length (95 mm as drawn; 9-12 cm is normal)."""
    import dataclasses

    from scipy import ndimage as ndi

    from napari_medground.reasoning import ground
    from napari_medground.study.model import Study

    study, truth = phantom
    kidney = truth["kidney_right"]
    if grow_slices:
        kidney = ndi.binary_dilation(kidney, structure=np.ones((3, 1, 1), bool), iterations=grow_slices)
        hu = study.array.copy()
        hu[kidney] = int(truth["kidney_hu"])
        study = Study(array=hu, affine_lps=study.affine_lps, modality="CT")
    bundled = catalogue.get("kidney_right", "CT")
    catalogue.register_locator("test.truth", _truth_locator(kidney))
    catalogue.add_structure(dataclasses.replace(bundled, locator="test.truth"))
    try:
        r = ground(study, "enlarged right kidney", device="cpu")
    finally:
        catalogue.remove_structure("kidney_right", "CT")
        catalogue.unregister_locator("test.truth")
    compares = [s for s in r.steps if s.kind == StepKind.COMPARE]
    assert [s.evidence.criterion.id for s in compares] == ["kidney_length"]
    f = r.findings[0]
    assert f.status == expected, r.conclusion.text
    assert ("Enlarged: Kidney length" in r.conclusion.text) == (expected == FindingStatus.PRESENT)


@pytest.mark.parametrize("modality,text,procedure,structures", [
    ("DX", "cardiomegaly", "cxr_heart", ("heart",)),
    ("DX", "right lung", "cxr_lungs", ("lung_right",)),
    ("DX", "right upper lobe", "out_of_scope", ()),
    ("CT", "hepatomegaly", "ct_organ", ("liver",)),
    ("CT", "lungs", "ct_structure", ("lung_left", "lung_right")),
    ("CT", "nodule", "ct_lesion", ("lung_left", "lung_right")),
    ("CT", "nodule in the right upper lobe", "ct_lesion", ("lung_right",)),
    ("CT", "thorax", "out_of_scope", ()),
    ("CT", "subcutaneous fat", "ct_structure", ("subcutaneous_fat",)),
    ("MR", "left thalamus atrophy", "brain_atrophy", ("thalamus",)),
    ("MR", "enlarged lateral ventricles", "brain_ventricles", ("lateral_ventricle",)),
    ("MR", "putamen", "brain_volume", ("putamen",)),
])
def test_the_planner_reads_the_catalogue(modality, text, procedure, structures):
    from napari_medground.reasoning.planner import plan_query
    from napari_medground.study.model import Study

    shape = (64, 64) if modality == "DX" else (4, 8, 8)
    study = Study(array=np.zeros(shape, np.float32), affine_lps=np.eye(4), modality=modality)
    plan = plan_query(study, parse(text).queries[0])
    assert (plan.procedure, plan.structures) == (procedure, structures), plan.reason
