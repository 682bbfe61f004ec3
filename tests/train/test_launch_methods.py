"""launch/local_multiprocess.sh trains every registered method's tiny config (tests/train/tiny_methods.py)
a few steps as 2 jax.distributed processes with the same per-step numbers as one process.

Each case costs about 30-60 s on 2 cores (two launches, each compiling the method's step); a method
without a tiny entry is skipped with the reason."""

import math
import os
import subprocess
import sys

import pytest
import tiny_methods
from train_helpers import REPO, env, read_metrics

from fer_jax.core.registry import METHODS

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
STEPS = 3


def _numbers(workdir: str) -> list[dict[str, float]]:
    rows = read_metrics(workdir)
    return [{k: v for k, v in r.items() if isinstance(v, (int, float)) and not k.startswith("perf/")} for r in rows]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_processes_train_like_one(method, tmp_path):
    if reason := tiny_methods.missing_reason(method):
        pytest.skip(reason)
    flags = tiny_methods.flags(method, STEPS)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _run([sys.executable, "-m", "fer_jax.cli", "train", f"--workdir={one}", *flags], env(1))
    e = env(1, DEVICES_PER_PROCESS="1", FER_JAX_CMD=f"{sys.executable} -m fer_jax.cli")
    e.pop("XLA_FLAGS")
    _run(["bash", os.path.join(REPO, "launch", "local_multiprocess.sh"), "2", f"--workdir={two}", *flags], e)
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
    done = subprocess.run(cmd, env=environ, timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
