"""Shared pieces of the IFER tests: the test-sized overrides (16 px decoder, a three-level GC ViT of width 8)
for in-process configs and for ``fer-jax train`` flags, and a subprocess runner on N simulated CPU devices
(a uniquely named module: test folders share the ``conftest`` name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import ml_collections

from fer_jax.testing import simulated_cpu_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SIZE = 16
SMALL: dict[str, Any] = {
    "decoder.size": SIZE, "decoder.style_dim": 16, "decoder.n_mlp": 1, "decoder.channel_multiplier": 0.0625,
    "decoder.channel_max": 16, "model.dim": 8, "model.depths": (2, 1, 1), "model.heads": (1, 1, 2),
    "model.windows": (8, 8, 4), "model.fpn_dim": 16, "input.size": SIZE, "input.batch_size": 4,
    "input.eval_batch_size": 4, "progress_bar": False, "tensorboard": False, "log_every": 1,
    "async_checkpoints": False,
}
INVERSION_SMALL = {"inversion.lpips_min_size": 32, "inversion.latent_avg_samples": 256}


def apply(c: ml_collections.ConfigDict, overrides: dict[str, Any]) -> ml_collections.ConfigDict:
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = c
        for part in parents:
            node = node[part]
        node[leaf] = value
    return c


def inversion_config(variant: str = "tiny,random", **extra) -> ml_collections.ConfigDict:
    from configs.ifer import synthface_inversion

    c = synthface_inversion.get_config(variant)
    c.ifer.image_key = "image"
    return apply(c, {**SMALL, **INVERSION_SMALL, **extra})


def fer_config(variant: str = "tiny,random,scratch", **extra) -> ml_collections.ConfigDict:
    """The FER stage on RAF-DB's layout (``image`` key, 7 classes); built from ``synthface_fer.py`` with the
    RAF-DB fields, so that a test that needs no build does not import TensorFlow (the RAF-DB builder does)."""
    from configs.ifer import synthface_fer

    c = synthface_fer.get_config(variant)
    c.class_names = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")  # RafDb.LABELS
    c.ifer.image_key, c.input.dataset, c.input.split_val = "image", "rafdb" if "random" not in variant else "random", "test"
    c.best_metric = ""  # the tests evaluate the test split; no checkpoint is chosen on it
    return apply(c, {**SMALL, **extra})


def flags(overrides: dict[str, Any]) -> list[str]:
    return [f"--config.{k}={v}" for k, v in overrides.items()]


def env(devices: int = 1) -> dict[str, str]:
    return simulated_cpu_env(devices, [REPO])


def run_train(workdir: str, config: str, overrides: dict[str, Any], devices: int = 1) -> None:
    cmd = [sys.executable, "-m", "fer_jax.cli", "train", f"--config={os.path.join(REPO, config)}",
           f"--workdir={workdir}", *flags(overrides)]
    done = subprocess.run(cmd, env=env(devices), timeout=900, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def read_metrics(workdir: str, split: str | None = "train") -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows
            if split is None or r["split"] == split]
