"""The reader, sample data and writer contributions through napari itself."""
from __future__ import annotations

import numpy as np
import pytest

from tests.data.shared import shared_path
from tests.napari.conftest import save_screenshot

pytestmark = pytest.mark.gui
PLUGIN = "napari-medground"


def _world_of(layer, display_index):
    return np.asarray(layer.data_to_world(np.asarray(display_index, dtype=float)))


@pytest.mark.shared_data
def test_reader_opens_dicom_folder_in_physical_space(make_napari_viewer, screenshot_dir):
    folder = shared_path("totalseg", "example_ct_dicom")
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(folder), plugin=PLUGIN)
    assert len(layers) == 1
    layer = layers[0]
    study = layer.metadata["study"]
    assert study.shape == (20, 512, 512) and study.modality == "CT"
    # scale = spacing in mm on (S, P, L) display axes: 2 mm slices, 0.98 mm pixels
    assert np.allclose(layer.scale, (2.0, 0.9766, 0.9766), atol=0.01)
    # orientation: display axes point Superior, Posterior, patient Left
    origin = _world_of(layer, (0, 0, 0))
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = 1
        delta = _world_of(layer, step) - origin
        assert delta[axis] > 0 and np.allclose(np.delete(delta, axis), 0, atol=1e-6)
    # every display voxel sits at the LPS position the study gives it (world = LPS z, y, x)
    geo_idx = np.array([[3, 100, 400], [17, 300, 20]], dtype=float)
    from napari_medground.viewer.layers import display_geometry

    study_idx = display_geometry(study).display_to_study(geo_idx)
    for d, s in zip(geo_idx, study_idx):
        assert np.allclose(_world_of(layer, d), study.index_to_lps(s)[::-1], atol=1e-3)
        assert layer.data[tuple(d.astype(int))] == study.array[tuple(s.astype(int))]
    # soft-tissue window (the file's own window if it has one), grey colormap
    lo, hi = layer.contrast_limits
    assert lo < 0 < hi and 200 <= hi - lo <= 2000
    assert layer.colormap.name == "gray"
    viewer.dims.set_point(0, float(np.mean(layer.extent.world[:, 0])))
    save_screenshot(viewer, screenshot_dir, "reader_dicom_ct.png")


def test_reader_error_is_one_notification(make_napari_viewer, tmp_path):
    from napari.utils.notifications import notification_manager

    from napari_medground.synthetic.dicom import write_dicom_series

    path = write_dicom_series(tmp_path, np.zeros((1, 32, 32), np.int16), np.eye(4))[0]
    path.write_bytes(path.read_bytes()[:-1500])  # truncated pixel data
    viewer = make_napari_viewer()
    seen = []
    notification_manager.notification_ready.connect(lambda n: seen.append(n.message))
    try:
        layers = viewer.open(str(path), plugin=PLUGIN)
    finally:
        notification_manager.notification_ready.disconnect()
    assert layers == []
    assert len(viewer.layers) == 0
    msgs = [m for m in seen if path.name in m]
    assert len(msgs) == 1 and "\n" not in msgs[0] and "truncated" in msgs[0], seen


def test_sample_data_phantom(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "ct_phantom")
    layer = viewer.layers[-1]
    assert layer.metadata["study"].modality == "CT"
    assert np.allclose(layer.scale, (3.0, 2.5, 2.5))
    assert layer.contrast_limits == pytest.approx((-160.0, 240.0))


@pytest.mark.shared_data
def test_reader_2d_xray(make_napari_viewer):
    path = shared_path("cxr", "00000001_000.png")
    viewer = make_napari_viewer()
    layer = viewer.open(str(path), plugin=PLUGIN)[0]
    study = layer.metadata["study"]
    assert layer.data.shape == study.shape and layer.ndim == 2
    assert np.allclose(layer.scale, study.spacing_mm)
    lo, hi = layer.contrast_limits  # percentiles of an 8-bit radiograph
    assert 0 <= lo < hi <= 255


def test_writer_puts_labels_back_on_the_study_grid(make_napari_viewer, tmp_path):
    """File > Save of an overlay Labels layer writes the study grid, whatever the display order."""
    from napari_medground.viewer.contrast import image_layer_data
    from napari_medground.synthetic.phantom import make_ct_phantom
    from napari_medground.study.nifti_io import read_nifti

    study, truth = make_ct_phantom(shape=(24, 40, 40), spacing_mm=(4.0, 5.0, 5.0), orientation="LIA")
    viewer = make_napari_viewer()
    data, kwargs, _ = image_layer_data(study)
    viewer.add_image(data, **kwargs)
    from napari_medground.viewer.layers import display_geometry

    geo = display_geometry(study)
    assert geo.perm != (0, 1, 2)  # LIA really is reoriented for display
    labels = geo.to_display(truth["liver"].astype(np.uint8) * 3)
    viewer.add_labels(np.ascontiguousarray(labels), name="liver", metadata={"study": study},
                      **geo.layer_kwargs())
    viewer.layers.selection.active = viewer.layers["liver"]
    written = viewer.layers.save(str(tmp_path / "liver.nii.gz"), selected=True, plugin=PLUGIN)
    assert written
    back = read_nifti(tmp_path / "liver.nii.gz")
    assert back.shape == study.shape
    assert np.allclose(back.affine_lps, study.affine_lps, atol=1e-4)
    assert np.array_equal(back.array == 3, truth["liver"])
