"""Background encoding: put LiteMedSAM embeddings of chosen slices into the shared cache.

The viewer calls :func:`prefetch` off the GUI thread so that a later click or box on
those slices only runs the (fast) decoder. Slice indices are along the study array's
first axis (``None`` for a 2D study).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .segment import open_session

CancelFn = Callable[[], bool]


def prefetch(study: Any, indices: Iterable[int | None], *, window: Any = None,
             device: str = "auto", cancel: CancelFn | None = None) -> int:
    """Encode the given slices into the shared per-study embedding cache.

    ``window`` is resolved as for :func:`segment_box_2d` (same cache key, so later prompts
    hit). ``cancel`` is polled before each slice; when it returns True the function stops
    and returns what it had encoded. Out-of-range indices raise ``IndexError``.
    Returns the number of slices newly encoded (cache hits are not counted).
    """
    session = open_session(study, window=window, device=device)
    n = 1 if study.array.ndim == 2 else int(study.array.shape[0])
    todo = []
    for i in dict.fromkeys(indices):
        if i is not None and not 0 <= int(i) < n:
            raise IndexError(f"slice {i} outside 0..{n - 1}")
        todo.append(None if (i is None or study.array.ndim == 2) else int(i))
    for i in todo:
        if cancel is not None and cancel():
            break
        session.embeddings([i])
    return session.encoded
