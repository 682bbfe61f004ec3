"""Child processes on simulated CPU devices: how the tests (and a user without an accelerator) check that a
run gives the same numbers on 1 and N devices (``fer_jax/core/parallel.py``)."""

from __future__ import annotations

import os
from typing import Sequence


def other_xla_flags() -> str:
    """This process's ``XLA_FLAGS`` less the simulated device count: what a child keeps whatever its
    device count (e.g. the test session's compile-time flags, ``conftest.py``)."""
    keep = [f for f in os.environ.get("XLA_FLAGS", "").split()
            if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join(keep)


def simulated_cpu_env(devices: int = 1, pythonpath: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """``os.environ`` for a child process that runs JAX on ``devices`` simulated CPU devices, outside any
    multi-process launch (``FER_JAX_COORDINATOR`` removed), with ``pythonpath`` prepended to ``PYTHONPATH``;
    ``extra`` variables are set last."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join([f"--xla_force_host_platform_device_count={devices}", other_xla_flags()])
    env["PYTHONPATH"] = os.pathsep.join([*pythonpath, env.get("PYTHONPATH", "")])
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("FER_JAX_COORDINATOR", None)
    env.update(extra)
    return env
