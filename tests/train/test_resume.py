"""kill -9 in the middle of a run, then the same command again: the run resumes from its last
checkpoint and its metrics.jsonl (train steps and evals) equals an uninterrupted run's."""

import os
import signal
import subprocess
import time

import pytest
from train_helpers import env, read_metrics, train_cmd, without_timing

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
# Dropout on: its keys follow fer_jax.train.rng, so resume and topology must not change them.
FLAGS = ["--config.toy.dropout=0.3",
         "--config.total_steps=30", "--config.ckpt_every=5", "--config.eval_every=10", "--config.toy.sleep=0.03"]


def _cmd(workdir):
    return train_cmd(workdir, FLAGS)


def _committed_steps(workdir):
    d = os.path.join(workdir, "checkpoints")
    return sorted(int(n) for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []


def test_kill_9_then_same_command_reproduces_uninterrupted_run(tmp_path):
    ref, killed = str(tmp_path / "ref"), str(tmp_path / "killed")
    subprocess.run(_cmd(ref), env=env(), check=True, timeout=600, capture_output=True)

    proc = subprocess.Popen(_cmd(killed), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 540
    try:
        while time.time() < deadline:
            steps = _committed_steps(killed)
            logged = read_metrics(killed) if os.path.exists(os.path.join(killed, "metrics.jsonl")) else []
            if steps and steps[-1] >= 10 and logged and logged[-1]["step"] >= 13:
                break
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.01)
        else:
            pytest.fail("no checkpoint at step >= 10 in time")
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    steps_at_kill = read_metrics(killed)[-1]["step"]
    assert steps_at_kill < 30

    restart = subprocess.run(_cmd(killed), env=env(), timeout=600, capture_output=True, text=True)
    assert restart.returncode == 0, restart.stderr[-3000:]
    resumed = [line for line in restart.stderr.splitlines() if "resumed from step" in line]
    assert resumed, restart.stderr[-3000:]
    resumed_step = int(resumed[0].split("resumed from step ")[1].split()[0])
    assert 10 <= resumed_step <= steps_at_kill  # resumed mid-run, not from scratch

    want, got = without_timing(read_metrics(ref, None)), without_timing(read_metrics(killed, None))
    assert [r["step"] for r in got] == [r["step"] for r in want]
    assert got == want  # exact: same batches, same state, same numbers
    assert [r["step"] for r in want if r["split"] == "val"] == [10, 20, 30]
