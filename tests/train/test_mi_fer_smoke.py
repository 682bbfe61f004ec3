"""The real MI-FER method through the shared trainer: a few steps of ``synthface.py:tiny`` on random
arrays, with the min-min game on from step 0 (shrunk further: 16 px, one segment, no apex branch,
to keep XLA compile time small on CPU)."""

import math

import pytest
from train_helpers import read_metrics

from configs.mi_fer import synthface
from fer_jax.train.trainer import train

pytestmark = pytest.mark.slow


def test_tiny_mi_fer_trains_evaluates_and_checkpoints(tmp_path):
    c = synthface.get_config("tiny,random")
    c.total_steps, c.eval_every, c.ckpt_every, c.log_every = 3, 3, 3, 1
    c.progress_bar = c.tensorboard = False
    c.apex.enabled, c.mi.estimator_steps, c.mi.start_step, c.mi.warmup_steps = False, 1, 0, 0
    c.input.size, c.input.segments = 16, 1
    c.input.random.num_train, c.input.random.num_val = 32, 16
    result = train(c, str(tmp_path))

    rows = read_metrics(str(tmp_path))
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        for key in ("loss/ce", "loss/encoder", "loss/estimator", "mi/club", "accuracy"):
            assert math.isfinite(r[key]), (key, r)
    assert rows[-1]["mi/weight"] == pytest.approx(c.mi.weight)  # the MI term is in the encoder loss
    val = result["val"]
    assert val["val/num_examples"] == 16 and 0.0 <= val["val/uar"] <= 1.0 and "val/mi/club" in val
    assert (tmp_path / "checkpoints" / "3").is_dir() and (tmp_path / "best" / "3").is_dir()
    assert (tmp_path / "eval_3.json").is_file()
