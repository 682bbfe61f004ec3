"""Device mesh and batch hand-off shared by every trainer, evaluator and benchmark.

Data parallelism is ``jax.jit`` over a 1-D ``data`` mesh: parameters are replicated, the batch is
split along its leading axis. XLA inserts the gradient all-reduce itself, so no step needs
``shard_map`` unless it wants an explicit collective. The same code runs on one device, on
``--xla_force_host_platform_device_count=8`` simulated CPU devices, and across processes started
with ``jax.distributed.initialize``.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named ``data`` over all (global) devices."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over ``data``; the rest replicated."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def local_batch_size(global_batch_size: int) -> int:
    """The slice of a global batch this process feeds; checks the batch divides evenly."""
    n_proc, n_dev = jax.process_count(), jax.device_count()
    if global_batch_size % n_dev:
        raise ValueError(
            f"global batch size {global_batch_size} is not divisible by the {n_dev} devices of the mesh"
        )
    return global_batch_size // n_proc


def shard_batch(local_batch: Any, mesh: Mesh) -> Any:
    """Per-process numpy batch -> global ``jax.Array``s laid out over the ``data`` axis.

    Every process passes its own ``local_batch_size`` rows; the result is one global array whose
    leading dimension is the global batch, with rows ordered by process index.
    """
    sharding = data_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)


def to_host(tree: Any) -> Any:
    """Fully-replicated or globally-sharded arrays -> numpy on every process."""
    from jax.experimental import multihost_utils

    def _get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(_get, tree)
