"""Run the toy method through the trainer in a fresh process (device count and jax.distributed set
from outside), then save the final parameters: ``python run_toy.py WORKDIR OUT.npz [overrides...]``.

Overrides are ``key=json`` pairs applied to ``toy_config.get_config()``. With env ``TOY_COORDINATOR``,
``TOY_NUM_PROCESSES`` and ``TOY_PROCESS_ID`` the process joins a ``jax.distributed`` job first.
"""

import json
import os
import sys

import jax

if os.environ.get("TOY_COORDINATOR"):
    jax.distributed.initialize(coordinator_address=os.environ["TOY_COORDINATOR"],
                               num_processes=int(os.environ["TOY_NUM_PROCESSES"]),
                               process_id=int(os.environ["TOY_PROCESS_ID"]))

import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_config  # noqa: E402

from fer_jax.train.trainer import train  # noqa: E402


def main(workdir: str, out: str, *overrides: str) -> None:
    config = toy_config.get_config()
    for item in overrides:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = config
        for p in parents:
            node = node[p]
        node[leaf] = json.loads(value)
    result = train(config, workdir)
    params = nnx.to_pure_dict(nnx.state(result["model"], nnx.Param))
    flat = {"/".join(map(str, path)): np.asarray(jax.device_get(leaf.addressable_data(0)))
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
    flat["_device_count"] = np.int32(jax.device_count())
    flat["_process_count"] = np.int32(jax.process_count())
    if jax.process_index() == 0:
        np.savez(out, **flat)


if __name__ == "__main__":
    main(*sys.argv[1:])
