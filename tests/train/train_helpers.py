"""Subprocess helpers for the trainer tests: the toy method through ``fer-jax train`` on N devices
or N processes, and reading back its metrics and final parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from fer_jax.testing import other_xla_flags, simulated_cpu_env

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOY_CONFIG = os.path.join(HERE, "toy_config.py")


def env(devices: int = 1, **extra: str) -> dict[str, str]:
    return simulated_cpu_env(devices, [HERE, REPO], **extra)


def train_cmd(workdir: str, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "fer_jax.cli", "train", f"--config={TOY_CONFIG}", f"--workdir={workdir}", *flags]


def run_train(workdir: str, flags: list[str], devices: int = 1, processes: int = 1, timeout: float = 600) -> None:
    """The toy config through ``fer-jax train``; several processes via launch/local_multiprocess.sh."""
    if processes == 1:
        cmd, e = train_cmd(workdir, flags), env(devices)
    else:
        cmd = ["bash", os.path.join(REPO, "launch", "local_multiprocess.sh"), str(processes),
               f"--config={TOY_CONFIG}", f"--workdir={workdir}", *flags]
        e = env(devices, DEVICES_PER_PROCESS=str(devices), FER_JAX_CMD=f"{sys.executable} -m fer_jax.cli")
        e["XLA_FLAGS"] = other_xla_flags()  # the launcher adds each process's device count
    done = subprocess.run(cmd, env=e, timeout=timeout, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def final_params(workdir: str, step: int) -> dict[str, np.ndarray]:
    """Parameters of checkpoint ``step`` of a toy run, restored in this (1-device) process."""
    import toy_config

    from fer_jax.core.workdir import arrays, restore

    restored = restore(workdir, "latest", step=step)
    assert restored.config.method == toy_config.get_config().method and restored.step == step
    return arrays(restored.state)


def read_metrics(workdir: str, split: str | None = "train") -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]
