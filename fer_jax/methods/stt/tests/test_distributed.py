"""The STT step on 1 vs 8 simulated devices gives the same numbers (losses, compact ratio, final
parameters and class centres, evaluation), and ``kill -9`` then the same command resumes exactly
(metrics.jsonl equal to an uninterrupted run's). Tiny STT on the ``random`` dataset, dropout on."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
from stt_helpers import env, read_metrics, run_train, train_cmd, without_timing

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
FLAGS = ["--config.total_steps=8", "--config.ckpt_every=4", "--config.eval_every=0"]


def final_state(workdir: str, step: int) -> dict[str, np.ndarray]:
    """Parameters and centres of checkpoint ``step``, restored in this 1-device process."""
    import jax
    from flax import nnx

    from fer_jax.core.checkpointing import Checkpoints
    from fer_jax.core.registry import resolve_method
    from fer_jax.core.workdir import load_config
    from fer_jax.methods.stt.method import Centres

    config = load_config(workdir)
    from fer_jax.core.settings import parse

    method = resolve_method(config.method)
    _, state = nnx.split(method.create(parse(config, method), nnx.Rngs(0)))
    ck = Checkpoints(workdir, every=1, keep=1, read_only=True)
    try:
        restored, _, got = ck.restore(state, "latest", step=step)
    finally:
        ck.close()
    assert got == step
    pure = nnx.to_pure_dict(nnx.filter_state(restored, nnx.Any(nnx.Param, Centres)))
    return {"/".join(map(str, p)): np.asarray(v) for p, v in jax.tree_util.tree_flatten_with_path(pure)[0]}


def test_eight_simulated_devices_match_one(tmp_path):
    one, eight = str(tmp_path / "one"), str(tmp_path / "eight")
    run_train(one, FLAGS, devices=1)
    run_train(eight, FLAGS, devices=8)
    a, b = read_metrics(one), read_metrics(eight)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 9))
    for ra, rb in zip(a, b):
        for key in ("loss/ce", "loss/compact", "loss/total", "accuracy"):
            np.testing.assert_allclose(rb[key], ra[key], rtol=2e-4, atol=1e-5, err_msg=f"{key} step {ra['step']}")
    assert a[-1]["loss/ce"] < a[0]["loss/ce"] and a[0]["loss/compact"] > 0  # it trained, the term was on
    sa, sb = final_state(one, 8), final_state(eight, 8)
    assert sorted(sa) == sorted(sb) and any("centres" in k for k in sa)
    for key in sa:
        np.testing.assert_allclose(sb[key], sa[key], rtol=1e-3, atol=1e-4, err_msg=key)
    (va,), (vb,) = read_metrics(one, "val"), read_metrics(eight, "val")
    assert va["val/num_examples"] == vb["val/num_examples"] == 20  # last eval batch padded, padding dropped
    for key in ("val/war", "val/uar", "val/embedding/ratio_sq"):
        assert vb[key] == pytest.approx(va[key], rel=1e-3, abs=1e-6), key


def _committed(workdir):
    d = os.path.join(workdir, "checkpoints")
    return sorted(int(n) for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []


def test_kill_9_then_same_command_resumes_exactly(tmp_path):
    flags = ["--config.total_steps=60", "--config.ckpt_every=10", "--config.eval_every=20"]
    ref, killed = str(tmp_path / "ref"), str(tmp_path / "killed")
    run_train(ref, flags)
    proc = subprocess.Popen(train_cmd(killed, flags), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 540
    try:
        while time.time() < deadline:
            logged = read_metrics(killed) if os.path.exists(os.path.join(killed, "metrics.jsonl")) else []
            if _committed(killed) and _committed(killed)[-1] >= 10 and logged and logged[-1]["step"] >= 12:
                break
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.005)
        else:
            pytest.fail("no checkpoint at step >= 10 in time")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    at_kill = read_metrics(killed)[-1]["step"]
    assert at_kill < 60
    restart = subprocess.run(train_cmd(killed, flags), env=env(), timeout=600, capture_output=True, text=True)
    assert restart.returncode == 0, restart.stderr[-3000:]
    resumed = [line for line in restart.stderr.splitlines() if "resumed from step" in line]
    assert resumed and 10 <= int(resumed[0].split("resumed from step ")[1].split()[0]) <= at_kill
    want, got = without_timing(read_metrics(ref, None)), without_timing(read_metrics(killed, None))
    assert got == want  # exact: same batches, dropout keys, parameters, optimizer state and centres
    assert [r["step"] for r in want if r["split"] == "val"] == [20, 40, 60]
