"""Prompts typed as text: ``"A0,A1,A2,B0,B1,B2"`` -> :class:`~napari_medground.result.Box`; ``"I,J,K"`` -> a point.

Shared by the CLI (``--box``) and the batch manifest's ``box`` column, so both accept
and reject the same strings. Indices are voxel indices in array axis order (z, y, x in
3D; y, x in 2D), inclusive; the box is checked against the study grid later
(:func:`napari_medground.reasoning.api.validate_box`).
"""
from __future__ import annotations

from ..errors import QueryError
from ..result import Box


def parse_box(text: str | None) -> Box | None:
    """'A0,A1,A2,B0,B1,B2' (or four numbers in 2D) -> Box; None for an empty text.

    Raises
    ------
    QueryError
        When the text is not 4 or 6 comma-separated numbers.
    """
    if not text:
        return None
    try:
        nums = [int(round(float(v))) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise QueryError(f"--box {text!r}: expected comma-separated voxel indices") from None
    if len(nums) not in (4, 6):
        raise QueryError(f"--box {text!r}: expected 4 (2D) or 6 (3D) numbers, got {len(nums)}")
    half = len(nums) // 2
    return Box(tuple(nums[:half]), tuple(nums[half:]))


def parse_point(text: str, flag: str = "--point") -> tuple[int, ...]:
    """'I,J,K' (or 'I,J' in 2D) -> integer voxel indices in array axis order.

    Checked against the study grid later (:func:`napari_medground.reasoning.api.validate_points`).
    """
    try:
        nums = tuple(int(round(float(v))) for v in text.replace(" ", "").split(",") if v != "")
    except ValueError:
        raise QueryError(f"{flag} {text!r}: expected comma-separated voxel indices") from None
    if len(nums) not in (2, 3):
        raise QueryError(f"{flag} {text!r}: expected 2 (2D) or 3 (3D) numbers, got {len(nums)}")
    return nums
