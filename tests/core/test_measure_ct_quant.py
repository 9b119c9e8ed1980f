"""Quantitative CT measures on synthetic volumes with known answers, at several voxel sizes."""
import numpy as np
import pytest

from napari_medground.measure import centreline, ct_quant
from napari_medground.reasoning.quant_plan import height_from_text, sex_from_text

SPACINGS = [(1.0, 0.8, 0.8), (3.0, 1.5, 1.5), (5.0, 2.0, 2.0)]


def _grid(sp, size_mm):
    n = [max(4, int(round(s / d))) for s, d in zip(size_mm, sp)]
    return np.meshgrid(*[(np.arange(k) + 0.5) * d for k, d in zip(n, sp)], indexing="ij")


@pytest.mark.parametrize("sp", SPACINGS)
def test_trabecular_roi_excludes_cortex_and_canal(sp):
    z, y, x = _grid(sp, (40, 80, 60))
    r = np.hypot(y - 30, x - 30)
    body = (r <= 18) & (z > 5) & (z < 35)
    canal_ring = (np.hypot(y - 58, x - 30) <= 12) & (np.hypot(y - 58, x - 30) > 7) & (z > 5) & (z < 35)
    hu = np.full(body.shape, 0.0)
    hu[body] = 120.0  # trabecular bone
    hu[body & (r > 16)] = 700.0  # 2 mm cortex
    hu[canal_ring] = 600.0  # posterior arch
    mask = body | canal_ring
    roi = ct_quant.trabecular_roi(mask, sp, erode_mm=3.0)
    st = ct_quant.roi_stats(hu, roi, sp)
    assert st is not None and abs(st.median - 120.0) < 1.0 and abs(st.mean - 120.0) <= 5.0  # partial volume at 1.5-2 mm
    assert not (roi & canal_ring).any()


@pytest.mark.parametrize("sp", SPACINGS)
def test_stone_size_and_hu(sp):
    z, y, x = _grid(sp, (60, 60, 60))
    kidney = (((z - 30) / 25) ** 2 + ((y - 30) / 20) ** 2 + ((x - 30) / 15) ** 2) <= 1
    hu = np.where(kidney, 30.0, -100.0)
    d = 8.0
    stone = np.sqrt((z - 30) ** 2 + (y - 30) ** 2 + (x - 30) ** 2) <= d / 2
    hu[stone] = 900.0
    found = ct_quant.find_stones(hu, ct_quant.kidney_search_region(kidney), sp)
    assert len(found) == 1
    assert abs(found[0].size_mm - d) <= max(sp) + 0.5
    assert found[0].peak_hu == 900.0
    assert ct_quant.find_stones(np.where(kidney, 30.0, -100.0), kidney, sp) == []


@pytest.mark.parametrize("px", [0.6, 1.0, 2.0])
def test_muscle_area_known(px):
    n = int(300 / px)
    y, x = np.mgrid[0:n, 0:n] * px
    comp = np.hypot(y - 150, x - 150) <= 60
    hu = np.where(comp, 50.0, 0.0)
    hu[np.hypot(y - 150, x - 150) <= 20] = -100.0  # fat inside the compartment: not muscle
    area, m = ct_quant.muscle_area_cm2(hu, comp, (px, px))
    assert abs(area - np.pi * (36 - 4)) < 0.03 * np.pi * 32


def _bent_tube(sp, d_mm=30.0, length=160.0, bend=40.0):
    from scipy.spatial import cKDTree

    z, y, x = _grid(sp, (length, 120, 160))
    zz = np.linspace(-20, length + 20, 800)
    curve = np.stack([zz, np.full_like(zz, 60), 40 + bend * np.sin(np.pi * zz / length)], 1)
    dist, _ = cKDTree(curve).query(np.stack([z.ravel(), y.ravel(), x.ravel()], 1))
    a = np.zeros((4, 4))
    a[0, 2], a[1, 1], a[2, 0], a[3, 3] = sp[2], sp[1], sp[0], 1.0  # array (z, y, x) -> LPS (x, y, z)
    return (dist <= d_mm / 2).reshape(z.shape), a


@pytest.mark.parametrize("sp", SPACINGS)
def test_perpendicular_diameter_of_bent_tube(sp):
    mask, aff = _bent_tube(sp)
    prof = centreline.tube_profile(mask, aff)
    assert prof.widest is not None
    assert abs(prof.widest.diameter_mm - 30.0) <= 2.0  # axial sections of this tube reach ~38 mm
    assert abs(prof.widest.equivalent_mm - 30.0) <= 1.5
    widest_axial = max(np.ptp(np.argwhere(s)[:, 1]) * sp[2] for s in mask if s.any())
    assert widest_axial > 34.0  # the perpendicular measure is what corrects it


def test_height_and_sex_from_text():
    assert height_from_text("sarcopenia height 1.75 m") == 1.75
    assert height_from_text("sarcopenia, height 168 cm, woman") == 1.68
    assert height_from_text("sarcopenia") is None
    assert height_from_text("height 9 m") is None
    assert sex_from_text("sarcopenia in a woman") == "F" and sex_from_text("male, muscle mass") == "M"


def test_bone_touching_the_kidney_is_not_a_stone():
    sp = (3.0, 1.5, 1.5)
    z, y, x = _grid(sp, (60, 60, 90))
    kidney = (((z - 30) / 25) ** 2 + ((y - 30) / 20) ** 2 + ((x - 30) / 15) ** 2) <= 1
    hu = np.where(kidney, 30.0, -100.0)
    rib = (np.hypot(y - 30, x - 45) <= 5)  # a dense bar crossing the kidney edge, out of the region
    hu[rib] = 1000.0
    assert ct_quant.find_stones(hu, ct_quant.kidney_search_region(kidney), sp) == []
