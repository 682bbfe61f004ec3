"""launch/local_multiprocess.sh trains every registered method's tiny config (tests/train/tiny_methods.py)
a few steps as 2 jax.distributed processes with the same per-step numbers as one process.

The two processes (and the one-process reference) train all the methods in turn
(``train_every_method.py``): one start, import and jax.distributed join for all of them, where a launch
per method spent that seven times. A method without a tiny entry is skipped with the reason."""

import math
import os
import subprocess
import sys

import pytest
import tiny_methods
from train_helpers import REPO, env, read_metrics

from fer_jax.core.registry import METHODS
from fer_jax.testing import other_xla_flags

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
STEPS = 3
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_every_method.py")


def _numbers(workdir: str) -> list[dict[str, float]]:
    rows = read_metrics(workdir)
    return [{k: v for k, v in r.items() if isinstance(v, (int, float)) and not k.startswith("perf/")} for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[str, str]:
    """Every method's tiny run in one process, and in two jax.distributed processes (each on 1 device,
    started once for all the methods: ``train_every_method.py``)."""
    root = tmp_path_factory.mktemp("launch")
    one, two = str(root / "one"), str(root / "two")
    cmd = [sys.executable, DRIVER, "train", f"--steps={STEPS}"]
    _run([*cmd, f"--workdir={one}"], env(1))
    e = env(1, DEVICES_PER_PROCESS="1", FER_JAX_CMD=f"{sys.executable} {DRIVER}")
    e["XLA_FLAGS"] = other_xla_flags()  # the launcher adds each process's device count
    _run(["bash", os.path.join(REPO, "launch", "local_multiprocess.sh"), "2", f"--workdir={two}",
          f"--steps={STEPS}"], e)
    return one, two


@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_processes_train_like_one(method, runs):
    if reason := tiny_methods.missing_reason(method):
        pytest.skip(reason)
    one, two = (os.path.join(r, method) for r in runs)
    a, b = _numbers(one), _numbers(two)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, STEPS + 1))
    losses = sorted(k for k in a[0] if k.startswith("loss"))
    assert losses, a[0]
    for ra, rb in zip(a, b):
        assert sorted(ra) == sorted(rb)
        for key in ra:
            assert math.isfinite(ra[key]), (key, ra)
            assert rb[key] == pytest.approx(ra[key], rel=1e-4, abs=1e-5), f"{method} {key} step {ra['step']}"


def _run(cmd: list[str], environ: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=environ, timeout=1200, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
