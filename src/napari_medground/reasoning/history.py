"""Undo/redo history of a grounding: whole snapshots, masks bit-packed and shared.

A snapshot holds the result's state (steps, findings, conclusion, overrides, boxes, the
shared values) and its masks packed to 1 bit a voxel. A mask an edit left alone shares
the buffer of the newest snapshot, so the history's depth is limited by memory alone
(``$MEDGROUND_UNDO_MB``), never by a count.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Packed = tuple[tuple[int, ...], np.ndarray]  # (mask shape, read-only packed bits)


def undo_budget_bytes() -> int:
    """Memory the undo history may hold for masks ($MEDGROUND_UNDO_MB, default 2048 MB):
    some 2500 slice edits of a 256x256x100 mask, 150 of a 512x512x400 one."""
    return int(float(os.environ.get("MEDGROUND_UNDO_MB", "2048")) * 1024 * 1024)


@dataclass
class Snapshot:
    state: dict[str, Any]
    masks: dict[str, Packed]
    label: str


@dataclass
class EditHistory:
    """The undo and redo stacks (oldest first)."""

    undo: list[Snapshot] = field(default_factory=list)
    redo: list[Snapshot] = field(default_factory=list)

    def pack(self, key: str, mask: np.ndarray) -> Packed:
        """A mask packed to bits, sharing the buffer of the newest snapshot when unchanged."""
        bits = np.packbits(mask)
        bits.setflags(write=False)  # shared between snapshots
        for snap in self.undo[-1:] + self.redo[-1:]:
            old = snap.masks.get(key)
            if old is not None and old[0] == mask.shape and np.array_equal(old[1], bits):
                return old
        return mask.shape, bits

    def record(self, snap: Snapshot) -> None:
        """A new edit: its before-state goes on the undo stack, the redo stack is cleared,
        and the oldest steps go while the distinct mask buffers exceed the budget."""
        self.undo.append(snap)
        self.redo.clear()
        budget = undo_budget_bytes()
        while len(self.undo) > 1 and self._bytes() > budget:
            del self.undo[0]

    def _bytes(self) -> int:
        seen = {id(bits): bits.nbytes for snap in self.undo + self.redo for _shape, bits in snap.masks.values()}
        return sum(seen.values())


def unpack(packed: Packed) -> np.ndarray:
    """The boolean mask of a packed one (a new, writable array)."""
    shape, bits = packed
    return np.unpackbits(bits, count=int(np.prod(shape))).astype(bool).reshape(shape)
