"""Files <-> `Study` (patient LPS mm inside; conversions only at the file edges)."""
from .model import SeriesSummary, Study, affine_from_geometry, orientation_code, ras_to_lps

__all__ = ["Study", "SeriesSummary", "load_study", "affine_from_geometry", "orientation_code", "ras_to_lps"]


def load_study(path, series_uid=None, **kwargs) -> Study:
    """Load a study from a file or folder; see :func:`napari_medground.study.loader.load_study`."""
    from .loader import load_study as _load

    return _load(path, series_uid=series_uid, **kwargs)
