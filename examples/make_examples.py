"""Write the bundled example studies: the synthetic CT phantom as NIfTI (committed) and,
optionally, as a DICOM CT series (not committed).

    python examples/make_examples.py                      # writes examples/ct_phantom.nii.gz
    python examples/make_examples.py --dicom /tmp/phantom_dicom
    python examples/make_examples.py --truth              # also the truth labels as NIfTI

The phantom is deterministic (seed 0): running this again gives the same voxels.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from napari_medground.synthetic.phantom import make_ct_phantom, write_ct_dicom
from napari_medground.study.nifti_io import write_nifti

HERE = Path(__file__).resolve().parent
# label values of the truth file (0 = background); later names win where masks overlap
TRUTH_LABELS = ("body", "fat", "bone", "lung_right", "lung_left", "airways", "heart", "aorta", "liver",
                "spleen", "kidney_right", "kidney_left", "stomach", "bowel_gas", "liver_lesion", "nodule")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder for ct_phantom.nii.gz (default: examples/)")
    parser.add_argument("--dicom", type=Path, default=None,
                        help="also write the phantom as a DICOM series into this folder")
    parser.add_argument("--truth", action="store_true", help="also write ct_phantom_truth.nii.gz + .json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("make_examples")

    import nibabel as nib

    nib.openers.Opener.default_compresslevel = 9  # the committed file stays under 1 MB
    study, truth = make_ct_phantom(seed=args.seed)
    nifti = write_nifti(study.array, study, args.out / "ct_phantom.nii.gz")
    log.info("wrote %s (%.0f kB)", nifti, nifti.stat().st_size / 1024)
    if args.truth:
        labels = np.zeros(study.shape, np.uint8)
        for value, name in enumerate(TRUTH_LABELS, start=1):
            labels[truth[name]] = value
        path = write_nifti(labels, study, args.out / "ct_phantom_truth.nii.gz")
        numbers = {k: v for k, v in truth.items() if not isinstance(v, np.ndarray)}
        (args.out / "ct_phantom_truth.json").write_text(json.dumps(
            {"labels": {str(i): n for i, n in enumerate(TRUTH_LABELS, start=1)}, "numbers": numbers},
            indent=2, default=list))
        log.info("wrote %s and its .json", path)
    if args.dicom is not None:
        paths = write_ct_dicom(study, args.dicom)
        log.info("wrote %d DICOM files to %s", len(paths), args.dicom)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
