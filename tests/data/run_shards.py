"""One process of a ``jax.distributed`` job that reads a dataset through the input pipeline and the
device hand-off, then writes what the global batches held: ``python run_shards.py DATA_DIR OUT_PREFIX``.

Env: COORDINATOR, NUM_PROCESSES, PROCESS_ID (and XLA_FLAGS for the per-process CPU device count).
Writes ``OUT_PREFIX.<process>.json`` with, for the eval pass and for one training epoch, the clip
numbers of every global batch row (gathered from the devices) and its mask.
"""

import json
import os
import sys

import jax

jax.distributed.initialize(coordinator_address=os.environ["COORDINATOR"],
                           num_processes=int(os.environ["NUM_PROCESSES"]), process_id=int(os.environ["PROCESS_ID"]))

import numpy as np  # noqa: E402
import toy_dataset as toy  # noqa: E402

from data_pipelines.input_pipeline import make_iterator  # noqa: E402
from fer_jax.core.parallel import make_mesh, shard_batch, to_host  # noqa: E402


def rows(batches) -> list:
    out = []
    for b in batches:
        host = to_host({"clip": b["residuals"], "mask": b["mask"]})
        clip = np.rint(host["clip"][..., 0].max(axis=(1, 2, 3)) * 255).astype(int)
        out.append([[int(c), float(m)] for c, m in zip(clip, host["mask"])])
    return out


def main(data_dir: str, prefix: str) -> None:
    mesh = make_mesh()
    cfg = toy.input_cfg(data_dir, batch_size=8, eval_batch_size=8, augment=True)
    procs = dict(process_index=jax.process_index(), process_count=jax.process_count())
    evals = rows(shard_batch(b, mesh) for b in make_iterator(cfg, "val", seed=0, train=False, **procs))
    train_it = make_iterator(cfg, "train", seed=5, train=True, **procs)
    train = rows(shard_batch(next(train_it), mesh) for _ in range(train_it.batches_per_epoch))
    with open(f"{prefix}.{jax.process_index()}.json", "w") as f:
        json.dump({"devices": jax.device_count(), "local_devices": jax.local_device_count(),
                   "eval": evals, "train": train, "state": train_it.get_state()}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
