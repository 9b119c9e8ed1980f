"""No patient identifiers in logs (issue 15, item 9): a DICOM with PatientName/PatientID set is
loaded, reported and exported; the identifiers appear in no log line, warning, JSON or audit
entry, while DICOM SEG and SR keep the patient module as the standard requires."""
from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_medground.study import load_study
from napari_medground.study.synthetic import geometry_affine, write_dicom_series
from tests.core.test_export_helpers import make_result

MEDGROUND = Path(sys.executable).with_name("medground")
NAME, PID, BIRTH = "Doe^Jane^Quincy", "PID778899X", "19580214"


def _identified_series(folder: Path) -> Path:
    vol = np.full((4, 16, 16), 1000, np.int16)
    vol[1:3, 4:12, 4:12] = 1100
    for f in write_dicom_series(folder, vol, geometry_affine((2, 1, 1), (0, 0, 0)), intercept=-1024):
        ds = pydicom.dcmread(f)
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, PID, BIRTH
        ds.OtherPatientIDs = "OTHER-" + PID
        ds.save_as(f)
    return folder


def _leaks(text: str) -> list[str]:
    return [v for v in (NAME, NAME.replace("^", " "), "Doe", "Quincy", PID, BIRTH) if v in text]


def test_identifiers_in_no_log_warning_or_audit_entry(tmp_path, caplog):
    pytest.importorskip("highdicom")
    from napari_medground.export import export_result

    folder = _identified_series(tmp_path / "ct")
    caplog.set_level(logging.DEBUG)  # every logger, every level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = load_study(folder)
        mask = study.array > 50
        result = make_result(study, [dict(name="liver", mask=mask, measurements=[("volume", 1.0, "mL")],
                                          anatomy_code={"scheme": "SCT", "value": "10200004", "meaning": "Liver"})])
        files = export_result(result, tmp_path / "out", ("nifti", "seg", "sr", "csv", "json"))
    assert caplog.records  # the check saw the logs
    assert not _leaks(caplog.text)
    assert not _leaks(" ".join(str(w.message) for w in caught))
    assert not _leaks(" ".join(study.warnings) + repr(study.info()))
    for kind in ("json", "audit", "csv", "nifti_sidecar"):
        assert not _leaks(files[kind].read_text(encoding="utf-8")), kind
    for kind in ("seg", "sr"):  # the patient module is kept where the standard requires it
        ds = pydicom.dcmread(files[kind])
        assert str(ds.PatientName) == NAME and ds.PatientID == PID


def test_cli_verbose_output_has_no_identifiers(tmp_path):
    folder = _identified_series(tmp_path / "ct")
    for args in (["--verbose", "info", str(folder)], ["--verbose", "info", "--json", str(folder)]):
        proc = subprocess.run([str(MEDGROUND), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert not _leaks(proc.stdout + proc.stderr), args
