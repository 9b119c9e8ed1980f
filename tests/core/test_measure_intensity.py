"""Intensity statistics, measure_mask's names and units, and a real CT with reference labels."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground import measure
from tests.core.test_measure_shapes import ellipsoid, make_study
from tests.data.shared import shared_path


def test_intensity_stats_known_values():
    image = np.arange(1000, dtype=np.int16).reshape(10, 10, 10)
    mask = (image >= 100) & (image < 200)  # the values 100..199
    s = measure.intensity_stats(image, mask)
    assert s.n == 100
    assert s.mean == pytest.approx(149.5)
    assert s.std == pytest.approx(np.sqrt((100**2 - 1) / 12))
    assert (s.min, s.max) == (100.0, 199.0)
    assert s.p50 == pytest.approx(149.5)
    assert s.p05 == pytest.approx(100 + 0.05 * 99)
    assert s.p95 == pytest.approx(100 + 0.95 * 99)
    empty = measure.intensity_stats(image, np.zeros_like(mask))
    assert empty.n == 0 and np.isnan(empty.mean)
    with pytest.raises(ValueError, match="shape"):
        measure.intensity_stats(image, mask[:5])


def test_measure_mask_names_units_and_values():
    st = make_study((40, 70, 70), (2.0, 1.0, 1.0), fill=-100.0)
    m = ellipsoid(st, (25, 15, 20))
    st.array[m] = 60.0
    out = {x.name: x for x in measure.measure_mask(m, st, label="lesion")}
    assert list(out) == ["volume", "long_axis", "short_axis", "max_diameter",
                         "mean", "std", "p05", "p50", "p95"]
    assert out["volume"].unit == "mL" and out["long_axis"].unit == "mm" and out["mean"].unit == "HU"
    assert out["volume"].label == "lesion volume"
    assert out["mean"].value == pytest.approx(60.0) and out["std"].value == pytest.approx(0.0)
    assert abs(out["long_axis"].value - 50) <= np.hypot(1, 1)  # axial section: 50 x 30 mm
    assert abs(out["short_axis"].value - 30) <= np.hypot(1, 1)
    assert abs(out["max_diameter"].value - 50) <= np.linalg.norm(st.spacing_mm)
    mr = make_study((10, 10, 10), (1.0, 1.0, 1.0), modality="MR")
    cube = np.zeros(mr.shape, bool)
    cube[2:5, 2:5, 2:5] = True
    units = {x.name: x.unit for x in measure.measure_mask(cube, mr, recist=False)}
    assert "long_axis" not in units and units["mean"] == "a.u."
    units = {x.name: x.unit for x in measure.measure_mask(cube, mr, intensity_unit="ms")}
    assert units["mean"] == "ms"


@pytest.mark.shared_data
def test_real_ct_organs_against_totalsegmentator_labels():
    """example_ct + its TotalSegmentator labels: the liver is about 1,126 mL (issue 6)."""
    from napari_medground.study.nifti_io import read_nifti

    ct = read_nifti(shared_path("totalseg", "example_ct.nii.gz"))
    seg = read_nifti(shared_path("totalseg", "example_seg_fast_force_split.nii.gz"))
    liver = seg.array == 5
    out = {x.name: x.value for x in measure.measure_mask(liver, ct, label="liver")}
    assert out["volume"] == pytest.approx(1126, rel=0.01)
    assert 20 < out["mean"] < 120  # soft tissue in HU, not air or bone
    assert out["long_axis"] < out["max_diameter"] < 300
    # the liver lies on the patient's right (LPS x < 0 is right) of the spleen
    spleen = seg.array == 1
    assert measure.centroid(liver, ct)[1][0] < measure.centroid(spleen, ct)[1][0]
    # its craniocaudal extent is a whole number of 3 mm slices, and under its 3D diameter
    cc = measure.extent_mm(liver, ct, "SI")
    assert cc == pytest.approx(round(cc / 3.0) * 3.0) and cc < out["max_diameter"]
