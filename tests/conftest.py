"""Test configuration shared by tests/core (no Qt) and tests/napari (gui, under xvfb)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "screenshots"


@pytest.fixture
def screenshot_dir() -> Path:
    """Folder where GUI tests save screenshots for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
