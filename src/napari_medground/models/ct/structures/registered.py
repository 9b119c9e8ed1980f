"""Catalogue locators of this sub-package (contract: ``napari_medground.catalogue.locators``).

``ct.heart``: field-of-view check only, never a mask (:mod:`.heart`).
``ct.gallbladder``: the gallbladder (:mod:`.gallbladder`).
``ct.psoas``: one iliopsoas muscle, side from the entry (:mod:`.muscles`).
``ct.bladder``: the urinary bladder (:mod:`.pelvis`).
``ct.vessel``: ``locator_args = {"vessel": "aorta" | "inferior_vena_cava", "segment"?: "thoracic"}``
(:mod:`.vessels`; "thoracic": the descending thoracic aorta above the hiatus).
``ct.vertebra``: ``locator_args = {"level": "L1"}`` (T12..L5 or "sacrum"), the level
counted up from the sacrum by :mod:`.vertebrae`.
``ct.vertebral_body``: ``locator_args = {"level": "L3"}``, that vertebra's body only.
"""
from __future__ import annotations

import time

from ....catalogue import Located, classical_use, register_locator
from .result import StructureResult
from .vertebrae import locate_vertebra, locate_vertebral_body
from .vessels import locate_vessel


def _timed(locate, *args) -> Located:
    """``locate(*args)`` (a StructureResult) as a catalogue Located, timed."""
    t0 = time.perf_counter()
    return _located(locate(*args), t0)


def _located(res: StructureResult, t0: float) -> Located:
    use = classical_use("ct_classical", seconds=time.perf_counter() - t0)
    if res.mask is None:
        return Located(None, 0.0, res.method, models=(use,), notes=res.notes, reason=res.reason)
    conf = res.confidence if res.status == "present" else min(res.confidence, 0.5)
    notes = res.notes + ((res.reason,) if res.reason else ())
    caveat = res.reason if res.status != "present" else ""
    return Located(res.mask, conf, res.method, models=(use,), partial=res.cut_by_fov, notes=notes, caveat=caveat)


@register_locator("ct.vessel")
def locate_vessel_entry(study, entry, ctx) -> Located:
    """The abdominal aorta or the IVC (``locator_args = {"vessel": "aorta"}``)."""
    args = entry.locator_args or {}
    return _timed(locate_vessel, study, str(args.get("vessel", entry.id)), args.get("segment"))


@register_locator("ct.vertebra")
def locate_vertebra_entry(study, entry, ctx) -> Located:
    """One vertebra at its counted level; not found (with the reason) when the count has
    no landmark in the field of view."""
    return _timed(locate_vertebra, study, str((entry.locator_args or {}).get("level", entry.id)))


@register_locator("ct.vertebral_body")
def locate_vertebral_body_entry(study, entry, ctx) -> Located:
    """The body of one vertebra at its counted level (posterior elements removed)."""
    return _timed(locate_vertebral_body, study, str((entry.locator_args or {}).get("level", entry.id)))


@register_locator("ct.bladder")
def locate_bladder_entry(study, entry, ctx) -> Located:
    """The urinary bladder (urine-density midline pelvic body)."""
    from .pelvis import locate_bladder

    return _timed(locate_bladder, study)


@register_locator("ct.psoas")
def locate_psoas_entry(study, entry, ctx) -> Located:
    """One iliopsoas muscle (``entry.side`` "left"/"right", from the affine)."""
    from .muscles import locate_psoas

    return _timed(locate_psoas, study, str(entry.side or (entry.locator_args or {}).get("side")))


@register_locator("ct.gallbladder")
def locate_gallbladder_entry(study, entry, ctx) -> Located:
    """The gallbladder (bile-density body against the liver)."""
    from .gallbladder import locate_gallbladder

    return _timed(locate_gallbladder, study)


@register_locator("ct.heart")
def locate_heart_entry(study, entry, ctx) -> Located:
    """The heart: a field-of-view check only (never a mask yet)."""
    from .heart import locate_heart

    return _timed(locate_heart, study)
