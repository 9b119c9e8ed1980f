"""napari."""
