"""The Dask client of a batch: a LocalCluster of worker processes, or an existing scheduler.

Local cluster: ``n`` worker processes (each under a Nanny, which restarts it if it
dies), one thread each, so a row's models and caches stay in one process. When CUDA
GPUs exist and the device allows them, worker ``i`` sees only GPU ``i % n_gpus``
(``CUDA_VISIBLE_DEVICES``), so "cuda" on a worker means its own GPU. Each worker gets
``MEDGROUND_THREADS = cores // n`` so the workers share the CPU instead of
oversubscribing it. A worker that dies mid-row: the scheduler gives its rows to
another worker, up to :data:`ALLOWED_FAILURES` deaths per row.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .manifest import BatchError

log = logging.getLogger(__name__)

ALLOWED_FAILURES = 3  # worker deaths a row may cause before it is recorded as failed
START_TIMEOUT_S = 180


@dataclass(frozen=True)
class ClusterInfo:
    """Where the rows run: the scheduler address, worker count, and GPUs given out."""

    scheduler: str
    workers: int
    local: bool
    gpus: int = 0


def gpu_count(device: str) -> int:
    """CUDA GPUs usable here for ``device`` (0 for "cpu"; imports torch otherwise)."""
    if (device or "auto").strip().lower() == "cpu":
        return 0
    from ..models.device import valid_devices

    return sum(1 for d in valid_devices() if d.startswith("cuda:"))


def default_workers(n_rows: int, gpus: int) -> int:
    """One worker per GPU when GPUs exist, else one per (physical) core; never more than rows."""
    from ..models.device import physical_cores

    return max(1, min(gpus if gpus else physical_cores(), n_rows))


def worker_env(i: int, n_workers: int, gpus: int, device: str) -> dict[str, str]:
    """Environment of local worker ``i``: its CPU thread share and, with GPUs, its GPU."""
    from ..models.device import physical_cores

    env = {"MEDGROUND_THREADS": str(max(1, physical_cores() // n_workers))}
    if gpus and (device or "auto").strip().lower() in ("auto", "cuda"):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [v.strip() for v in (visible or "").split(",") if v.strip()] or [str(g) for g in range(gpus)]
        env["CUDA_VISIBLE_DEVICES"] = ids[i % len(ids)]
    return env


@contextmanager
def open_client(scheduler: str | None, n_workers: int, device: str) -> Iterator[tuple[object, ClusterInfo]]:
    """Yield ``(client, info)``; a local cluster is started here and closed on exit."""
    from dask.distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout=15)
        except (OSError, TimeoutError) as exc:
            why = " ".join(str(exc).split())
            raise BatchError(f"--scheduler {scheduler}: cannot connect ({why}); start one with "
                             "`dask scheduler`, or leave --scheduler out for a local cluster") from None
        try:
            _await_workers(client, 1, f"--scheduler {scheduler}: no worker joined in {START_TIMEOUT_S} s; "
                                      f"start workers with `dask worker {scheduler}`")
            n = len(client.scheduler_info().get("workers", {}))
            yield client, ClusterInfo(scheduler, n, local=False)
        finally:
            client.close()
        return
    cluster, gpus = _local_cluster(n_workers, device)
    try:
        with Client(cluster) as client:
            _await_workers(client, n_workers, f"local cluster: {n_workers} worker process(es) did not start "
                                              f"in {START_TIMEOUT_S} s; try fewer --workers")
            yield client, ClusterInfo(cluster.scheduler_address, n_workers, local=True, gpus=gpus)
    finally:
        cluster.close()


def _await_workers(client, n: int, message: str) -> None:
    try:
        client.wait_for_workers(n, timeout=START_TIMEOUT_S)
    except TimeoutError:
        raise BatchError(message) from None


def _local_cluster(n_workers: int, device: str):
    import dask
    from dask.distributed import LocalCluster
    from distributed.system import MEMORY_LIMIT

    gpus = gpu_count(device)
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_port=0, silence_logs=logging.ERROR,
                               memory_limit=max(1, int(MEMORY_LIMIT // n_workers)))
    try:
        # one spec per worker, so that each can get its own environment (GPU)
        for i in range(n_workers):
            spec = cluster.new_spec
            env = worker_env(i, n_workers, gpus, device)
            cluster.worker_spec[i] = {"cls": spec["cls"], "options": {**spec["options"], "env": env}}
        cluster.scale(n_workers)
    except Exception:
        cluster.close()
        raise
    log.info("local Dask cluster %s: %d worker process(es), %d GPU(s)", cluster.scheduler_address,
             n_workers, gpus)
    return cluster, gpus
