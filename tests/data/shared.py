"""Locate the real test studies in ../shared/data, read in place (never copied).

Tests call :func:`shared_path`; when the folder or file is absent (a user's machine)
the test is skipped with a reason naming what is missing. ``MEDGROUND_SHARED_DATA``
points elsewhere.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MEDGROUND_SHARED_DATA", _REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path to a file/folder under the shared data, or skip the test with a clear reason."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data not found: {p} (set MEDGROUND_SHARED_DATA)")
    return p


def synthetic_dir(tmp_path_factory, name: str) -> Path:
    """A fresh temporary folder for synthetic studies written by a test."""
    return tmp_path_factory.mktemp(name)
