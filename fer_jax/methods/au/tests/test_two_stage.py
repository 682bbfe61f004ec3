"""Both AU stages through ``fer-jax train`` on random data: 1 device = 8 simulated devices (per-step
losses and final parameters), stage 2 starts from stage 1 by ``init_from``, and a run resumed from its
mid-run checkpoint (the later one removed, as after a crash) reproduces the uninterrupted run exactly.

The resume check removes the last checkpoint instead of killing a process at a random moment
(tests/train/test_resume.py does the kill -9 for the trainer): what is tested here is that the AU
steps carry no randomness or state outside the checkpoint (views, augmentation, label subset)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fer_jax.testing import simulated_cpu_env

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FLAGS = ["--config.total_steps=8", "--config.ckpt_every=4", "--config.log_every=1", "--config.keep_ckpts=3"]


def _train(config: str, workdir: str, devices: int = 1) -> str:
    env = simulated_cpu_env(devices, [REPO])
    cmd = [sys.executable, "-m", "fer_jax.cli", "train", f"--config={os.path.join(REPO, config)}",
           f"--workdir={workdir}", *FLAGS]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stderr


def _metrics(workdir: str) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]


def _params(workdir: str, step: int) -> dict:
    from fer_jax.core.workdir import arrays, restore

    restored = restore(workdir, "latest", step=step)
    assert restored.step == step
    return arrays(restored.state)


def _same_run(a: str, b: str, loss: str) -> None:
    ma, mb = _metrics(a), _metrics(b)
    assert [r["step"] for r in ma] == [r["step"] for r in mb]
    for ra, rb in zip(ma, mb):
        if ra["split"] == "train":
            np.testing.assert_allclose(rb[loss], ra[loss], rtol=2e-5, atol=1e-6, err_msg=f"step {ra['step']}")
    pa, pb = _params(a, 8), _params(b, 8)
    assert sorted(pa) == sorted(pb)
    # Parameters: Adam divides by sqrt(v), so a weight whose gradient is near zero turns the reduction-order
    # difference of 1 vs 8 devices into an update-sized one (a few 1e-5 after 8 steps: 9 of 4608 stage-1
    # conv weights differ by up to 6.6e-5 with jax 0.10.2, at 928563e too); the losses above stay at 2e-5.
    for k in pa:
        np.testing.assert_allclose(pb[k], pa[k], rtol=1e-4, atol=1e-4, err_msg=k)


def _resume_equal(ref: str, config: str, tmp: str) -> None:
    """Copy the finished run, drop what step 8 wrote (checkpoint, best), rerun: it resumes at 4 and ends
    identical."""
    wd = os.path.join(tmp, "resumed")
    shutil.copytree(ref, wd)
    shutil.rmtree(os.path.join(wd, "checkpoints", "8"))
    shutil.rmtree(os.path.join(wd, "best", "8"), ignore_errors=True)  # a crash before step 8 leaves no best/8
    stderr = _train(config, wd)
    assert "resumed from step 4" in stderr
    assert _metrics(wd) == _metrics(ref)  # exact: same views, augmentations, label subset, numbers
    for k, v in _params(ref, 8).items():
        np.testing.assert_array_equal(_params(wd, 8)[k], v, err_msg=k)


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("au") / "pre")
    _train("configs/au/synthface_pretrain.py:tiny,random", wd)
    return wd


@pytest.fixture(scope="module")
def stage2(stage1, tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("au") / "ft")
    stderr = _train(f"configs/au/synthface_finetune.py:tiny,random,fraction=0.3,pretrain={stage1}", wd)
    assert "init_from: pretrain:" in stderr
    return wd


def test_stage1_learns_and_eight_devices_match_one(stage1, tmp_path):
    rows = [r for r in _metrics(stage1) if r["split"] == "train"]
    assert [r["step"] for r in rows] == list(range(1, 9)) and all(np.isfinite(r["loss/infonce"]) for r in rows)
    _train("configs/au/synthface_pretrain.py:tiny,random", str(tmp_path / "d8"), devices=8)
    _same_run(stage1, str(tmp_path / "d8"), "loss/infonce")


def _backbone(module) -> dict:
    from flax import nnx

    from fer_jax.core.workdir import arrays

    return {k: v for k, v in arrays(module, nnx.Param, nnx.BatchStat).items() if k.startswith("net/backbone/")}


def test_stage2_starts_from_stage1_and_eight_devices_match_one(stage1, stage2, tmp_path):
    with open(os.path.join(stage2, "config.json")) as f:
        assert json.load(f)["init_from"]["pretrain"]["source"] == stage1
    # The weights: the trainer, given stage 2's recorded config and 0 steps, returns the state stage 2 started
    # from; its encoder (backbone) is stage 1's last checkpoint, array for array, and not a fresh one.
    from fer_jax.core.workdir import load_config, restore
    from fer_jax.train.trainer import train

    config = load_config(stage2)
    config.total_steps = 0
    start = _backbone(train(config, str(tmp_path / "step0"))["model"])
    saved = _backbone(restore(stage1, "latest").state)
    assert restore(stage1, "latest").step == 8 and len(saved) > 4 and sorted(start) == sorted(saved)
    for k, v in saved.items():
        np.testing.assert_array_equal(start[k], v, err_msg=k)
    from flax import nnx

    from fer_jax.core.registry import resolve_method
    from fer_jax.core.settings import parse

    method = resolve_method(config.method)
    fresh = _backbone(method.create(parse(config, method), nnx.Rngs(int(config.seed))))
    assert any(not np.array_equal(fresh[k], v) for k, v in saved.items())  # stage 1 did move the encoder
    rows = [r for r in _metrics(stage2) if r["split"] == "train"]
    assert all(0 < r["labels/frames_used"] < 8 * 8 for r in rows)  # ~30% of 8 clips x 8 frames, never all
    assert [r for r in _metrics(stage2) if r["split"] == "val"][-1]["val/num_examples"] == 32
    _train(f"configs/au/synthface_finetune.py:tiny,random,fraction=0.3,pretrain={stage1}", str(tmp_path / "d8"),
           devices=8)
    _same_run(stage2, str(tmp_path / "d8"), "loss/regression")


def test_both_stages_resume_exactly(stage1, stage2, tmp_path):
    _resume_equal(stage1, "configs/au/synthface_pretrain.py:tiny,random", str(tmp_path / "s1"))
    _resume_equal(stage2, f"configs/au/synthface_finetune.py:tiny,random,fraction=0.3,pretrain={stage1}",
                  str(tmp_path / "s2"))
