"""Chest radiographs: lung fields, heart and thoracic widths, the cardiothoracic ratio.

Entry points: :func:`analyse_chest_xray` (everything for one frontal film) and
:func:`cardiothoracic_ratio` (the one CTR computation, also used after an edit).
"""
from __future__ import annotations

from .anatomy import CxrAnatomy, analyse_chest_xray
from .widths import cardiothoracic_ratio

__all__ = ["CxrAnatomy", "analyse_chest_xray", "cardiothoracic_ratio"]
