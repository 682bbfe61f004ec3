"""The IFER inversion step (both players, EMA key, the first-step mean latent) and the FER step (mixup /
cutmix keys) on 1 vs 8 simulated CPU devices give the same numbers, through ``fer-jax train``."""

import numpy as np
import pytest
from ifer_helpers import INVERSION_SMALL, SMALL, read_metrics, run_train

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
STEPS = {"total_steps": 3, "ckpt_every": 3, "eval_every": 0, "best_metric": ""}


@pytest.mark.parametrize("stage,config,variant,extra", [
    ("inversion", "configs/ifer/synthface_inversion.py", "tiny,random", {**INVERSION_SMALL, "ifer.image_key": "image"}),
    ("fer", "configs/ifer/rafdb.py", "tiny,random,scratch", {"input.random.num_train": 32}),
])
def test_eight_simulated_devices_match_one(tmp_path, stage, config, variant, extra):
    overrides = {**SMALL, **extra, **STEPS, "input.batch_size": 8, "input.eval_batch_size": 8,
                 "input.random.num_val": 8}
    overrides.pop("async_checkpoints")  # not a field of the config files: flags can only set existing ones
    one, eight = str(tmp_path / "one"), str(tmp_path / "eight")
    run_train(one, f"{config}:{variant}", overrides, devices=1)
    run_train(eight, f"{config}:{variant}", overrides, devices=8)
    a, b = read_metrics(one), read_metrics(eight)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3]
    keys = sorted(k for k in a[0] if k.startswith(("loss", "d/", "mix")))
    assert "loss/adv" in keys if stage == "inversion" else "mix/lambda" in keys
    for ra, rb in zip(a, b):
        # Steps 1-2 agree to 1e-6. Step 3 follows two Adam updates, and Adam turns reduction-order noise in
        # near-zero gradients into lr-sized steps: the released alignment (temperature 1, a weak pull) leaves
        # such gradients, so its step 3 differs by up to 7e-4 relative (loss/adv 0.046841 vs 0.046808, with
        # and without the test's -O0 flags; the x̂ alignment agrees to 2e-7 there)
        rtol = 2e-4 if ra["step"] < 3 else 2e-3
        for key in keys:
            np.testing.assert_allclose(rb[key], ra[key], rtol=rtol, atol=1e-5, err_msg=f"{key} step {ra['step']}")
    (va,), (vb,) = read_metrics(one, "val"), read_metrics(eight, "val")
    assert va["val/num_examples"] == vb["val/num_examples"] == 8
    for key in (k for k in va if k.startswith("val/")):
        if va[key] is None:  # the recall of a class the 8 random examples do not hold
            assert vb[key] is None, key
            continue
        assert vb[key] == pytest.approx(va[key], rel=1e-3, abs=1e-6), key
