"""Conform a T1 MRI to the brainchop MeshNet input, and map labels back to the study grid.

The models were trained on FreeSurfer-"conformed" volumes: 256^3 voxels of 1 mm, LIA
orientation in NIfTI/RAS terms (axis i toward the patient's Left, j Inferior, k
Anterior), centred on the centre of the input volume, uint8 intensities. brainchop feeds
the network the NIfTI (i, j, k) array, so the *model grid* here is indexed (i, j, k) =
(L, I, A); in LPS mm its affine is ``[[1,0,0],[0,0,-1],[0,-1,0]]`` plus the origin. A
conformed study read by our NIfTI edge ((z, y, x) = (k, j, i)) has orientation "AIL".

Intensities follow FreeSurfer/niimath ``-conform`` (input other than uint8 is rescaled
to 0..255 from 0 to the 99.9th percentile of non-zero voxels, ``getscale``) and then
brainchop's ``qnormalize``: ``(v - q02) / (q98 - q02 + 1e-3)`` clipped to 0..1, the
quantiles taken over the whole conformed volume.

When the study grid is already a re-indexing of the model grid (same 1 mm voxels,
axes permuted or flipped, integer offset), conforming is exact and copies nothing for
an already conformed file (``t1_crop.nii.gz``); otherwise it resamples (trilinear).
Labels go back to the study grid by nearest neighbour.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...study.model import Study

SIZE = 256
MODEL_DIRECTION_LPS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])  # columns: i, j, k


@dataclass(frozen=True, eq=False)
class Conformed:
    """A study on the model grid.

    Attributes
    ----------
    volume : np.ndarray
        uint8, (256, 256, 256), indexed (i, j, k) = (L, I, A); may be a view of the study.
    affine_lps : np.ndarray
        4x4, model index (i, j, k) -> patient LPS mm.
    to_model : np.ndarray
        4x4, study array index -> model index (continuous).
    exact : bool
        True when the model grid re-indexes the study grid (no interpolation).
    lut : np.ndarray
        float32[256]: conformed uint8 value -> network input (0..1).
    """

    volume: np.ndarray
    affine_lps: np.ndarray
    to_model: np.ndarray
    exact: bool
    lut: np.ndarray
    quantiles: tuple[float, float]
    study_shape: tuple[int, int, int]

    @property
    def is_noop(self) -> bool:
        """The study is already conformed: the model input is the study's own voxels."""
        perm = _signed_permutation(self.to_model)
        return (self.exact and perm is not None and not any(f for _, f, _ in perm)
                and all(o == 0 for _, _, o in perm) and self.study_shape == (SIZE,) * 3)

    def network_input(self, block: np.ndarray) -> np.ndarray:
        """Network input (float32 0..1) of a block of ``volume``."""
        return self.lut[block]


def model_affine(study: Study) -> np.ndarray:
    """Model-grid affine (index (i, j, k) -> LPS mm) for a study: LIA, 1 mm, same centre."""
    centre = study.index_to_lps(np.asarray(study.shape, dtype=float) / 2.0)
    a = np.eye(4)
    a[:3, :3] = MODEL_DIRECTION_LPS
    a[:3, 3] = centre - MODEL_DIRECTION_LPS @ np.full(3, SIZE / 2.0)
    return a


def conform(study: Study, *, qmin: float = 0.02, qmax: float = 0.98) -> Conformed:
    """Put a 3D study on the model grid with brainchop's intensity scaling (see module doc)."""
    if study.ndim != 3:
        raise ValueError(f"{study.name}: brain models need a 3D volume, got {study.ndim}D")
    a_model = model_affine(study)
    to_model = np.linalg.inv(a_model) @ study.affine_lps
    perm = _signed_permutation(to_model)
    if perm is not None:
        vol = _reindex_to_model(study.array, perm)
        if vol.dtype != np.uint8:
            vol = _to_uint8(vol, *_getscale(study.array))
    else:
        vol = _resample_to_model(study.array, to_model)
    lut, q = quantile_lut(vol, qmin, qmax)
    return Conformed(vol, a_model, to_model, perm is not None, lut, q, study.shape)  # type: ignore[arg-type]


def quantile_lut(vol: np.ndarray, qmin: float, qmax: float) -> tuple[np.ndarray, tuple[float, float]]:
    """brainchop ``qnormalize`` as a 256-entry table (quantiles as ``np.quantile``, linear)."""
    counts = np.bincount(vol.ravel(order="K"), minlength=256).astype(np.int64)  # no copy for views
    cum = np.cumsum(counts)
    n = int(cum[-1])

    def q(p: float) -> float:
        pos = p * (n - 1)
        lo_i, frac = int(np.floor(pos)), pos - np.floor(pos)
        v0 = int(np.searchsorted(cum, lo_i, side="right"))
        v1 = int(np.searchsorted(cum, min(lo_i + 1, n - 1), side="right"))
        return v0 + (v1 - v0) * frac

    lo, hi = q(qmin), q(qmax)
    lut = np.clip((np.arange(256, dtype=np.float64) - lo) / (hi - lo + 1e-3), 0.0, 1.0).astype(np.float32)
    return lut, (lo, hi)


def labels_to_study(conf: Conformed, labels: np.ndarray, box=None) -> np.ndarray:
    """Labels on the model grid (or on ``box`` of it) -> labels on the study grid (nearest).

    ``box`` is ``(lo, hi)`` (hi exclusive) in model indices when ``labels`` covers only
    that box; study voxels mapping outside it get 0.
    """
    box = ((0, 0, 0), (SIZE,) * 3) if box is None else box
    perm = _signed_permutation(conf.to_model) if conf.exact else None
    if perm is not None:
        return _reindex_to_study(labels, box, perm, conf.study_shape)
    full = np.zeros((SIZE,) * 3, labels.dtype)
    full[tuple(slice(a, b) for a, b in zip(*box))] = labels
    return _nearest_to_study(full, conf.to_model, conf.study_shape)


def study_box(conf: Conformed, box) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Largest study-grid box (inclusive indices) whose voxels all take their labels from ``box``."""
    perm = _signed_permutation(conf.to_model) if conf.exact else None
    if perm is not None:
        ranges = _axis_ranges(perm, conf.study_shape, box)
        if ranges is None:
            return None
        lo, hi = [0] * 3, [0] * 3
        for (b, _, _), (_, (s0, s1)) in zip(perm, ranges):
            lo[b], hi[b] = s0, s1 - 1
        return tuple(lo), tuple(hi)
    ones = np.ones(tuple(h - l for l, h in zip(*box)), np.uint8)
    return _inner_box(labels_to_study(conf, ones, box).astype(bool))


# ----------------------------------------------------------------- exact re-indexing
def _signed_permutation(t: np.ndarray, tol: float = 1e-3):
    """For each model axis: (study axis, flipped, integer offset), or None if not a re-indexing."""
    m = t[:3, :3]
    r = np.rint(m)
    if np.abs(m - r).max() > tol or np.abs(np.abs(r).sum(axis=0) - 1).max() > 0 or \
            np.abs(np.abs(r).sum(axis=1) - 1).max() > 0:
        return None
    off = t[:3, 3]
    if np.abs(off - np.rint(off)).max() > tol:
        return None
    out = []
    for a in range(3):
        b = int(np.argmax(np.abs(r[a])))
        out.append((b, bool(r[a, b] < 0), int(np.rint(off[a]))))
    return tuple(out)


def _axis_ranges(perm, study_shape, box=None):
    """Per model axis: the model index range and the matching study index range (both
    half-open, inside both grids and ``box``), or None when they do not overlap."""
    out = []
    for a, (b, flip, off) in enumerate(perm):
        lo, hi = (0, SIZE) if box is None else (box[0][a], box[1][a])
        n = study_shape[b]
        # study index s = m - off, or off - m when flipped; keep 0 <= s < n
        m0, m1 = (max(lo, off - n + 1), min(hi, off + 1)) if flip else (max(lo, off), min(hi, off + n))
        if m1 <= m0:
            return None
        s0, s1 = (off - (m1 - 1), off - m0 + 1) if flip else (m0 - off, m1 - off)
        out.append(((m0, m1), (s0, s1)))
    return out


def _reindex_to_model(arr: np.ndarray, perm) -> np.ndarray:
    axes = [b for b, _, _ in perm]
    if all(not f and o == 0 for _, f, o in perm) and tuple(arr.shape[b] for b in axes) == (SIZE,) * 3:
        return arr.transpose(axes)  # already conformed: a view, nothing copied
    out = np.zeros((SIZE,) * 3, arr.dtype)
    ranges = _axis_ranges(perm, arr.shape)
    if ranges is None:
        return out
    src = arr.transpose(axes)[tuple(slice(s0, s1) for _, (s0, s1) in ranges)]
    src = src[tuple(slice(None, None, -1) if f else slice(None) for _, f, _ in perm)]
    out[tuple(slice(m0, m1) for (m0, m1), _ in ranges)] = src
    return out


def _reindex_to_study(labels: np.ndarray, box, perm, study_shape) -> np.ndarray:
    """Labels covering ``box`` of the model grid -> the study grid (exact re-indexing)."""
    out = np.zeros(study_shape, labels.dtype)
    ranges = _axis_ranges(perm, study_shape, box)
    if ranges is None:
        return out
    src = labels[tuple(slice(m0 - box[0][a], m1 - box[0][a]) for a, ((m0, m1), _) in enumerate(ranges))]
    src = src[tuple(slice(None, None, -1) if f else slice(None) for _, f, _ in perm)]
    view = out.transpose([b for b, _, _ in perm])  # the study array seen in model-axis order
    view[tuple(slice(s0, s1) for _, (s0, s1) in ranges)] = src
    return out


def _inner_box(mask: np.ndarray):
    """Largest box found by shrinking the bounding box of ``mask`` until it holds only True."""
    if not mask.any():
        return None
    idx = [np.flatnonzero(mask.any(axis=tuple(b for b in range(3) if b != a))) for a in range(3)]
    lo, hi = [int(i[0]) for i in idx], [int(i[-1]) for i in idx]
    while all(a <= b for a, b in zip(lo, hi)):
        sub = mask[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]
        bad = [(a, side) for a in range(3) for side in (0, 1)
               if not np.take(sub, 0 if side == 0 else sub.shape[a] - 1, axis=a).all()]
        if not bad:
            return tuple(lo), tuple(hi)
        for a, side in bad:  # every offending face moves in by one voxel per round
            if side == 0:
                lo[a] += 1
            else:
                hi[a] -= 1
    return None


# ----------------------------------------------------------------- resampling
def _getscale(data: np.ndarray, f_low: float = 0.0, f_high: float = 0.999) -> tuple[float, float]:
    """FreeSurfer/FastSurfer ``getscale``: offset and scale mapping the robust range to 0..255."""
    data = np.asarray(data)
    dmin, dmax = float(data.min()), float(data.max())
    if dmax <= dmin:
        return dmin, 1.0
    nz = int(np.count_nonzero(np.abs(data) >= 1e-15))
    total = data.size
    hist, edges = np.histogram(data, bins=1000, range=(dmin, dmax))
    cum = np.concatenate(([0], np.cumsum(hist)))
    low_idx = np.flatnonzero(cum < int(f_low * total))
    src_min = float(edges[low_idx[-1] + 1]) if len(low_idx) else float(edges[0])
    up_idx = np.flatnonzero(cum >= total - int((1.0 - f_high) * nz))
    src_max = float(edges[up_idx[0] - 2]) if len(up_idx) else float(edges[-1])
    if src_max <= src_min:
        return src_min, 1.0
    return src_min, 255.0 / (src_max - src_min)


def _to_uint8(vol: np.ndarray, src_min: float, scale: float) -> np.ndarray:
    out = np.clip(np.rint((vol.astype(np.float32) - src_min) * scale), 0, 255)
    return out.astype(np.uint8)


def _resample_to_model(arr: np.ndarray, to_model: np.ndarray) -> np.ndarray:
    """Trilinear resampling onto the 256^3 model grid (outside the study: 0), then uint8."""
    from scipy.ndimage import affine_transform

    to_study = np.linalg.inv(to_model)
    if arr.dtype == np.uint8:
        src_min, scale = 0.0, 1.0
    else:
        src_min, scale = _getscale(arr)
    out = affine_transform(arr.astype(np.float32, copy=False), to_study[:3, :3], offset=to_study[:3, 3],
                           output_shape=(SIZE,) * 3, order=1, mode="constant", cval=float(src_min),
                           prefilter=False)
    return _to_uint8(out, src_min, scale)


def _nearest_to_study(full: np.ndarray, to_model: np.ndarray, study_shape) -> np.ndarray:
    """Nearest model voxel for every study voxel, slab by slab along study axis 0."""
    out = np.zeros(study_shape, full.dtype)
    j, k = np.meshgrid(np.arange(study_shape[1]), np.arange(study_shape[2]), indexing="ij")
    rest = to_model[:3, 1] * j[..., None] + to_model[:3, 2] * k[..., None] + to_model[:3, 3]
    for i in range(study_shape[0]):
        m = np.rint(rest + to_model[:3, 0] * i).astype(np.int64)
        ok = np.all((m >= 0) & (m < SIZE), axis=-1)
        out[i][ok] = full[m[ok, 0], m[ok, 1], m[ok, 2]]
    return out
