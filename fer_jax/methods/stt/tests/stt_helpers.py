"""Shared pieces of the STT tests: a tiny config on the ``random`` dataset and a subprocess runner of
``fer-jax train`` on N simulated CPU devices (helpers get a unique module name: test folders share the
``conftest`` name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import ml_collections

from fer_jax.testing import simulated_cpu_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
CONFIG = os.path.join(REPO, "configs", "stt", "dfew.py")
# Tiny enough for a CPU test: 4 frames of 2x2 tokens, width 16, one block; compact term from step 0,
# dropout on (its keys follow fer_jax.train.rng, so topology and resume must not change them).
TINY = ["--config.model.width=16", "--config.model.heads=2", "--config.model.depth=1", "--config.model.dropout=0.2",
        "--config.model.backbone_width=8", "--config.input.segments=2", "--config.input.batch_size=8",
        "--config.input.eval_batch_size=8", "--config.input.random.num_train=48", "--config.input.random.num_val=20",
        "--config.compact.gate=100.0", "--config.compact.ramp=0.0", "--config.progress_bar=False",
        "--config.tensorboard=False", "--config.log_every=1"]


def tiny_config(**model) -> ml_collections.ConfigDict:
    """``dfew.py:tiny,random`` shrunk as :data:`TINY` (in-process tests)."""
    from configs.stt import dfew

    c = dfew.get_config("tiny,random")
    c.model.update({**dict(width=16, heads=2, depth=1, dropout=0.2, backbone_width=8), **model})
    c.input.update(segments=2, batch_size=8, eval_batch_size=8)
    c.input.random.update(num_train=48, num_val=20)
    c.compact.update(gate=100.0, ramp=0.0)
    c.progress_bar, c.tensorboard = False, False
    return c


def tiny_state(config: ml_collections.ConfigDict, n: int) -> tuple:
    """(method, state, the random training arrays, their first ``n`` examples as a batch, the jitted train
    step) of an STT ``config`` (:func:`tiny_config`), seed 0: what the in-process step tests drive."""
    import jax.numpy as jnp
    from flax import nnx

    from fer_jax.core.data import random_arrays
    from fer_jax.core.registry import get_method
    from fer_jax.train.config_check import validate

    method = get_method("stt")
    run = validate(config, method)
    state = method.create(run, nnx.Rngs(0))
    arrays = random_arrays(run.input, 7, "train", seed=0, spec=method.input_spec(run))
    batch = {k: jnp.asarray(v[:n]) for k, v in arrays.items()}
    return method, state, arrays, batch, nnx.jit(method.train_step)


def env(devices: int = 1) -> dict[str, str]:
    return simulated_cpu_env(devices, [REPO])


def train_cmd(workdir: str, flags: list[str], variant: str = "tiny,random") -> list[str]:
    return [sys.executable, "-m", "fer_jax.cli", "train", f"--config={CONFIG}:{variant}", f"--workdir={workdir}",
            *TINY, *flags]


def run_train(workdir: str, flags: list[str], devices: int = 1, timeout: float = 600) -> None:
    done = subprocess.run(train_cmd(workdir, flags), env=env(devices), timeout=timeout, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def read_metrics(workdir: str, split: str | None = "train") -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]
