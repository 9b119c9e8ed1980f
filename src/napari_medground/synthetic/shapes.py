"""Drawing primitives of the synthetic CT phantom: a grid in patient mm, signed distances,
and a painter that blends partial-volume edges and keeps which structure owns each voxel.

Coordinates are patient LPS millimetres (+x left, +y posterior, +z superior); the grid is
the canonical (S, P, L) array: index (k, j, i) -> (x_i, y_j, z_k), centred in x and y.
Signed distance functions (SDF) are negative inside, approximately the distance in mm to
the surface near it (exact for spheres and capsules, first order for ellipses).
"""
from __future__ import annotations

import numpy as np

# Tissue values in HU (typical unenhanced CT values).
HU = {
    "air": -1000.0, "lung": -850.0, "fat": -100.0, "fluid": 10.0, "csf": 8.0, "lesion": 15.0,
    "kidney": 32.0, "wall": 40.0, "blood": 42.0, "muscle": 50.0, "spleen": 48.0, "nodule": 30.0,
    "liver": 60.0, "cancellous": 230.0, "rib": 700.0, "cortex": 900.0, "table": 150.0,
}


PADDING_HU = -1024  # outside the reconstruction circle


class Scene:
    """The phantom being drawn: HU, owner labels and extra truth masks on the grid."""

    def __init__(self, shape, spacing_mm) -> None:
        nz, ny, nx = (int(v) for v in shape)
        sz, sy, sx = (float(v) for v in spacing_mm)
        self.shape = (nz, ny, nx)
        self.spacing = (sz, sy, sx)
        self.z = (np.arange(nz) * sz).reshape(nz, 1, 1)
        self.y = ((np.arange(ny) - (ny - 1) / 2) * sy).reshape(1, ny, 1)
        self.x = ((np.arange(nx) - (nx - 1) / 2) * sx).reshape(1, 1, nx)
        self.edge_mm = float(np.mean(self.spacing))
        self.hu = np.full(self.shape, HU["air"], np.float32)
        self.owner = np.zeros(self.shape, np.int16)
        self.labels: dict[str, int] = {}
        self.extras: dict[str, np.ndarray] = {}

    def label(self, name: str) -> int:
        return self.labels.setdefault(name, len(self.labels) + 1)

    def paint(self, name: str, sdf: np.ndarray, hu: float, *, truth: bool = True,
              within: str | None = None, extra: str | None = None) -> None:
        """Blend ``hu`` where ``sdf`` < 0 (partial volume over about one voxel).

        ``truth``: the voxels inside become owned by ``name`` (False: paint only, e.g. a
        vessel that stays part of the lung). ``within``: only inside that structure.
        ``extra``: also record the inside as a named truth mask (e.g. "nodule").
        """
        sdf = np.broadcast_to(sdf, self.shape)
        near = sdf < 0.5 * self.edge_mm  # the voxels this paint touches at all
        inside = sdf < 0
        if within is not None:
            region = self.owner == self.label(within)
            near &= region
            inside &= region
        frac = np.clip(0.5 - sdf[near] / self.edge_mm, 0.0, 1.0).astype(np.float32)
        self.hu[near] += frac * (np.float32(hu) - self.hu[near])
        if truth:
            self.owner[inside] = self.label(name)
            for k, m in self.extras.items():
                if k != extra:
                    m &= ~inside
        if extra is not None:
            self.extras.setdefault(extra, np.zeros(self.shape, bool))
            self.extras[extra] |= inside

    def finish(self, noise_hu: float, rng: np.random.Generator) -> np.ndarray:
        """HU with correlated Gaussian noise of ``noise_hu`` sd, as int16."""
        from scipy import ndimage as ndi

        noise = ndi.gaussian_filter(rng.standard_normal(self.shape).astype(np.float32), 0.7)
        noise *= noise_hu / max(float(noise.std()), 1e-6)
        hu = np.clip(np.rint(self.hu + noise), -1024, 3071).astype(np.int16)
        # outside the circular reconstruction field of view a scanner writes padding
        fov = min(-float(self.x.ravel()[0]), -float(self.y.ravel()[0]))
        hu[:, (self.x ** 2 + self.y ** 2)[0] > fov ** 2] = PADDING_HU
        return hu

    def truth(self) -> dict[str, np.ndarray]:
        """Named boolean masks of the anatomy (see ``make_ct_phantom``)."""
        own = self.owner
        lab = self.labels
        masks = {"body": (own > 0) & (own != lab.get("table", -1))}
        for name in ("lung_left", "lung_right", "airways", "bone", "fat", "heart", "aorta", "liver",
                     "spleen", "kidney_left", "kidney_right", "stomach"):
            masks[name] = own == lab.get(name, -1)
        for name in ("liver_lesion", "nodule", "bowel_gas"):
            masks[name] = self.extras.get(name, np.zeros(self.shape, bool)).copy()
        return masks

    def affine_lps(self) -> np.ndarray:
        """4x4: canonical index (k, j, i) -> LPS mm."""
        a = np.zeros((4, 4))
        a[2, 0], a[1, 1], a[0, 2] = self.spacing
        a[:3, 3] = (float(self.x.ravel()[0]), float(self.y.ravel()[0]), float(self.z.ravel()[0]))
        a[3, 3] = 1.0
        return a

    def index_to_mm(self, idx) -> tuple[float, float, float]:
        k, j, i = (int(v) for v in idx)
        return float(self.x.ravel()[i]), float(self.y.ravel()[j]), float(self.z.ravel()[k])

    def box_sdf(self, xr, yr, zr) -> np.ndarray:
        """Axis-aligned box (ranges in mm)."""
        axes = ((self.x, xr), (self.y, yr), (self.z, zr))
        d = [np.abs(c - (r[0] + r[1]) / 2) - (r[1] - r[0]) / 2 for c, r in axes]
        return np.maximum(np.maximum(d[0], d[1]), d[2])


def _ellipse_sdf(offsets, semi) -> np.ndarray:
    """First-order signed distance to an axis-aligned ellipse/ellipsoid."""
    rho2 = sum((o / a) ** 2 for o, a in zip(offsets, semi))
    rho = np.sqrt(rho2)
    grad = np.sqrt(sum((o / a ** 2) ** 2 for o, a in zip(offsets, semi))) / np.maximum(rho, 1e-6)
    return (rho - 1.0) / np.maximum(grad, 1e-6 / max(semi))


def elliptic_cylinder(s: Scene, center_xy, semi_xy) -> np.ndarray:
    """Infinite cylinder along z with an elliptic cross-section."""
    return _ellipse_sdf((s.x - center_xy[0], s.y - center_xy[1]), semi_xy)


def ellipsoid(s: Scene, center, semi) -> np.ndarray:
    return _ellipse_sdf((s.x - center[0], s.y - center[1], s.z - center[2]), semi)


def sphere(s: Scene, center, radius: float) -> np.ndarray:
    return capsule(s, center, center, radius)


def capsule(s: Scene, a, b, radius: float) -> np.ndarray:
    """Tube of ``radius`` around the segment a-b (mm); computed only near it (far: +1e3)."""
    a = np.asarray(a, float)
    ab = np.asarray(b, float) - a
    reach = radius + 2.0 * s.edge_mm
    lo, hi = np.minimum(a, a + ab) - reach, np.maximum(a, a + ab) + reach
    box = tuple(_index_range(c.ravel(), lo[d], hi[d]) for d, c in ((2, s.z), (1, s.y), (0, s.x)))
    out = np.full(s.shape, 1e3, np.float32)
    px, py, pz = s.x[..., box[2]] - a[0], s.y[:, box[1]] - a[1], s.z[box[0]] - a[2]
    t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    out[box] = np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2) - radius
    return out


def _index_range(coords: np.ndarray, lo: float, hi: float) -> slice:
    """Index slice of the sorted grid ``coords`` between ``lo`` and ``hi`` (mm)."""
    return slice(int(np.searchsorted(coords, lo)), int(np.searchsorted(coords, hi, side="right")))


def rib_arc(s: Scene, z0: float, semi_xy, radius: float) -> np.ndarray:
    """A rib pair: a tube around an axial ellipse at height ``z0``, open anteriorly
    (costal cartilage gap) and posteriorly (where the spine is)."""
    plane = _ellipse_sdf((s.x, s.y), semi_xy)
    d = np.sqrt(plane ** 2 + (s.z - z0) ** 2) - radius
    gap = ((np.abs(s.x) < 30) & (s.y < 0)) | ((np.abs(s.x) < 28) & (s.y > 0))
    return np.where(gap, 1e3, d)
