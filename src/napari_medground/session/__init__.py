"""Session persistence: autosave of every edit and crash recovery (:mod:`.autosave`), and the
lossless Result state it stores (:mod:`.state`)."""
from __future__ import annotations

from .autosave import Session, SessionInfo

__all__ = ["Session", "SessionInfo"]
