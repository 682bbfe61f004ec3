"""Two ``jax.distributed`` processes x 4 simulated CPU devices (8 in all): through the input pipeline
and the device hand-off, an eval pass shows every example exactly once and a training epoch shows no
example twice."""

import json
import os
import socket
import subprocess
import sys

import pytest
import toy_dataset as toy

from fer_jax.testing import simulated_cpu_env

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_eight_devices_exactly_once(tmp_path):
    data_dir = str(tmp_path / "tfds")
    toy.build_toy(data_dir)
    port = _free_port()
    procs = []
    for p in range(2):
        env = simulated_cpu_env(4, [HERE, REPO], COORDINATOR=f"localhost:{port}", NUM_PROCESSES="2",
                                PROCESS_ID=str(p))
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "run_shards.py"), data_dir,
                                       str(tmp_path / "out")], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out[-3000:]
    results = [json.load(open(tmp_path / f"out.{p}.json")) for p in range(2)]
    assert all(r["devices"] == 8 and r["local_devices"] == 4 for r in results)
    assert results[0]["eval"] == results[1]["eval"]  # both processes see the same global batches
    seen = [c for batch in results[0]["eval"] for c, m in batch if m == 1.0]
    assert sorted(seen) == list(range(100, 100 + toy.ToyClips.N["val"]))  # every val example exactly once
    assert all(len(batch) == 8 for batch in results[0]["eval"])
    train = [c for batch in results[0]["train"] for c, m in batch]
    assert len(train) == len(set(train)) > 0 and set(train) <= set(range(toy.ToyClips.N["train"]))
    assert results[0]["state"] == results[1]["state"]
