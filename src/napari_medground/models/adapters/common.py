"""Shared parts of the optional model adapters: the result type, putting a label file
back on the study grid, and a guard that keeps third-party code off the network.

numpy only at import time; scipy/nibabel are imported where needed.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ...result import ModelUse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdapterSegmentation:
    """Labels from an external model, on the study grid.

    labels : integer array with ``study.array.shape`` (0 = background).
    names : label value -> the model's own label name (e.g. "kidney_left").
    terms : label value -> (our vocabulary term, side or None), e.g. ("kidney", "left").
    """

    labels: np.ndarray
    names: dict[int, str]
    terms: dict[int, tuple[str, str | None]]
    model: ModelUse
    notes: tuple[str, ...] = field(default_factory=tuple)

    def mask(self, term: str, side: str | None = None) -> np.ndarray:
        """Union of the labels mapped to ``term`` (and ``side``, when given; None = both)."""
        values = [v for v, (t, s) in self.terms.items() if t == term and (side is None or s in (side, None))]
        return np.isin(self.labels, values)


def missing_package_message(module: str, extra: str, what: str) -> str:
    return (f"{what} is not installed (Python module '{module}' not found): "
            f"pip install 'napari-medground[{extra}]'")


def labels_onto_grid(label_study, study) -> np.ndarray:
    """Nearest-neighbour labels of ``label_study`` at every voxel centre of ``study``.

    Identity when both grids match (same shape, affines equal within 1e-3 mm); otherwise
    the label grid is sampled through both affines (LPS mm), 0 outside it.
    """
    lab = np.asarray(label_study.array)
    if lab.shape == study.array.shape and np.allclose(label_study.affine_lps, study.affine_lps, atol=1e-3):
        return np.rint(lab).astype(np.int32)
    if lab.ndim != study.ndim:
        raise ValueError(f"label image is {lab.ndim}D but the study is {study.ndim}D")
    from scipy import ndimage

    # study index -> LPS -> label index, as one affine map in array order
    m = np.linalg.inv(label_study.affine_lps) @ study.affine_lps
    n = study.ndim
    out = ndimage.affine_transform(np.rint(lab).astype(np.int32), m[:n, :n], offset=m[:n, 3],
                                   output_shape=study.array.shape, order=0, mode="constant", cval=0)
    return out.astype(np.int32)


class NetworkBlocked(OSError):
    """Raised instead of a network connection while an adapter runs third-party code."""


def _is_local(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS


@contextlib.contextmanager
def block_network(what: str = "this model") -> Iterator[None]:
    """Refuse non-loopback connections and DNS look-ups inside the block (process-wide).

    Third-party tools may phone home (TotalSegmentator posts usage statistics and
    downloads missing weights); napari-medground promises that nothing leaves the
    machine, so such attempts fail fast with :class:`NetworkBlocked` instead.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def refuse(target) -> NetworkBlocked:
        log.warning("blocked a network connection to %r while running %s", target, what)
        return NetworkBlocked(f"napari-medground blocks network access while running {what} (to {target!r})")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            raise refuse(address)
        return original_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            raise refuse(address)
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_local(host.decode() if isinstance(host, bytes) else host):
            raise refuse(host)
        return original_getaddrinfo(host, *args, **kwargs)

    own = {k: socket.socket.__dict__[k] for k in ("connect", "connect_ex") if k in socket.socket.__dict__}
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        for k in ("connect", "connect_ex"):
            if k in own:
                setattr(socket.socket, k, own[k])
            else:
                delattr(socket.socket, k)  # back to the inherited C methods
        socket.getaddrinfo = original_getaddrinfo
