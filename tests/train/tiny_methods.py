"""Each registered method's CPU-sized config on random data: what the launcher and export tests run.

A new method joins those tests by adding its entry to ``TINY``: the config file and variant, plus the
overrides that make it train on the in-memory ``random`` dataset in seconds. A registered method
without an entry is reported as skipped (with this file's name), not silently left out.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import ml_collections

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# method -> (config file relative to the repo, variant, overrides applied on top)
SMALL = {"input.random.num_train": 32, "input.random.num_val": 16}  # where the config has a random section
TINY: dict[str, tuple[str, str, dict[str, Any]]] = {
    "mi_fer": ("configs/mi_fer/synthface.py", "tiny,random",
               {"input.size": 16, "apex.enabled": False, "mi.start_step": 0, "mi.warmup_steps": 0, **SMALL}),
    "rgb_baseline": ("configs/rgb_baseline/synthface.py", "tiny", {"input.dataset": "random", "input.size": 16}),
    "stt": ("configs/stt/synthface_wild.py", "tiny,random", {"input.size": 16, **SMALL}),
    "au_contrastive": ("configs/au/synthface_pretrain.py", "tiny,random", {"input.size": 16, **SMALL}),
    "au_intensity": ("configs/au/synthface_finetune.py", "tiny,random,scratch", {"input.size": 16, **SMALL}),
    "stylegan2": ("configs/stylegan2/synthface.py", "tiny,random", {"model.size": 8, "input.size": 8,
                                                                     "input.batch_size": 4, **SMALL}),
    "ifer": ("configs/ifer/rafdb.py", "tiny,random,scratch", {  # the FER stage: the served classifier
        "decoder.size": 16, "decoder.style_dim": 16, "decoder.n_mlp": 1, "decoder.channel_max": 16,
        "model.dim": 8, "model.depths": (2, 1, 1), "model.heads": (1, 1, 2), "model.windows": (8, 8, 4),
        "model.fpn_dim": 16, "input.size": 16, "input.batch_size": 4, "input.eval_batch_size": 4, **SMALL}),
}
# a few steps, no evaluation, no progress output: the tests compare numbers, not learning
COMMON = {"progress_bar": False, "tensorboard": False, "log_every": 1, "eval_every": 0}


def missing_reason(method: str) -> str | None:
    return None if method in TINY else f"{method}: no tiny random-data config in tests/train/tiny_methods.py"


def overrides(method: str, steps: int) -> dict[str, Any]:
    return {**COMMON, **TINY[method][2], "total_steps": steps, "ckpt_every": steps}


def config(method: str, steps: int) -> ml_collections.ConfigDict:
    """The config object, overrides applied (for in-process training)."""
    path, variant, _ = TINY[method]
    module = importlib.import_module(path[:-3].replace("/", "."))
    c = module.get_config(variant)
    for key, value in overrides(method, steps).items():
        *parents, leaf = key.split(".")
        node = c
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c
