"""The same ``fer-jax train`` run on 1 device, 8 simulated devices and 2 jax.distributed processes
(launch/local_multiprocess.sh, 2 devices each) gives the same per-step losses, final parameters and
final evaluation.
The toy method alternates two optimizers in one step, like MI-FER's game. The final parameters are
read back from each run's last checkpoint in this 1-device process, which also shows a checkpoint
written by 8 devices or 2 processes restores on another topology."""

import numpy as np
import pytest
from train_helpers import final_params, read_metrics, run_train

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
# One eval, at the end (eval_every=0), on 20 examples: the last eval batch is padded.
# Dropout on: its keys follow fer_jax.train.rng, so resume and topology must not change them.
FLAGS = ["--config.toy.dropout=0.3",
         "--config.total_steps=10", "--config.ckpt_every=5", "--config.eval_every=0"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("one_device") / "wd")
    run_train(wd, FLAGS, devices=1)
    return wd


def _assert_same(reference, other):
    ref, got = final_params(reference, 10), final_params(other, 10)
    assert sorted(ref) == sorted(got) and len(ref) == 6
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-5, atol=1e-5, err_msg=key)
    a, b = read_metrics(reference), read_metrics(other)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 11))
    for ra, rb in zip(a, b):
        for key in ("loss/ce", "loss/aux", "accuracy"):
            np.testing.assert_allclose(rb[key], ra[key], rtol=1e-5, atol=1e-6, err_msg=f"{key} step {ra['step']}")
    # The losses moved: equal numbers are not an artefact of a run that did nothing.
    assert a[-1]["loss/ce"] < a[0]["loss/ce"]
    # Evaluation gathers the same 20 examples (padding dropped) whatever the topology.
    (va,), (vb,) = read_metrics(reference, "val"), read_metrics(other, "val")
    assert va["step"] == vb["step"] == 10 and va["val/num_examples"] == vb["val/num_examples"] == 20
    for key in ("val/war", "val/uar"):
        assert vb[key] == pytest.approx(va[key], abs=1e-9), key


def test_eight_simulated_devices_match_one(reference, tmp_path):
    run_train(str(tmp_path / "wd"), FLAGS, devices=8)
    _assert_same(reference, str(tmp_path / "wd"))


def test_two_processes_match_one(reference, tmp_path):
    run_train(str(tmp_path / "wd"), FLAGS, devices=2, processes=2)
    _assert_same(reference, str(tmp_path / "wd"))
