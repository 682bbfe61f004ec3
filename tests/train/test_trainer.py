"""The trainer loop in one process: non-finite guard, best-by-val checkpoint, resume of a finished
run (with TensorBoard on), and ``fer-jax eval`` on a trained workdir."""

import importlib.util
import json
import os

import numpy as np
import pytest
import toy_config
from flax import nnx
from train_helpers import read_metrics

from fer_jax.commands import eval as eval_cli
from fer_jax.core.checkpointing import Checkpoints
from fer_jax.core.registry import resolve_method
from fer_jax.train.config_check import validate
from fer_jax.train.trainer import NonFiniteLossError, train


@pytest.mark.parametrize("ckpt_every", [1, 4])  # 4: step 5's metrics are checked one step late
def test_non_finite_loss_stops_naming_step_and_key_and_is_not_saved(tmp_path, ckpt_every):
    c = toy_config.get_config()
    c.toy.nan_at_step = 4  # the 5th update (step 5) reports a NaN loss/ce
    c.ckpt_every = ckpt_every
    with pytest.raises(NonFiniteLossError, match=r"loss/ce = nan at step 5") as info:
        train(c, str(tmp_path))
    assert isinstance(info.value, FloatingPointError) and info.value.step == 5
    assert sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())[-1] == 4
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 2, 3, 4]


def test_best_checkpoint_is_the_best_eval_and_restores_it(tmp_path):
    c = toy_config.get_config()
    c.input.random.signal = 0.15  # hard enough that val/uar moves between evals
    c.input.random.num_val = 60
    c.total_steps, c.eval_every, c.keep_ckpts = 16, 2, 1
    train(c, str(tmp_path))
    evals = read_metrics(str(tmp_path), "val")
    uars = [r["val/uar"] for r in evals]
    assert len(evals) == 8 and len(set(uars)) > 1
    best_step = int(os.listdir(tmp_path / "best")[0])
    assert dict((r["step"], r["val/uar"]) for r in evals)[best_step] == max(uars)
    # latest-K kept only the last checkpoint; the best survives separately
    assert [s for s in os.listdir(tmp_path / "checkpoints") if s.isdigit()] == ["16"]
    # evaluating the restored best checkpoint reproduces its recorded score
    assert eval_cli.main([f"--workdir={tmp_path}", "--checkpoint=best", "--save_arrays"]) == 0
    report = json.loads((tmp_path / "eval_val_best.json").read_text())
    assert report["step"] == best_step and report["uar"] == pytest.approx(max(uars), abs=1e-9)
    arrays = np.load(tmp_path / "eval_val_best.npz")
    assert arrays["features"].shape == (60, 16) and arrays["identity"].shape == (60,)
    assert set(arrays.files) >= {"features", "identity", "label", "pred", "logits"}


def test_best_manager_keeps_the_best_of_a_sequence(tmp_path):
    def state_of(value):
        return nnx.State({"w": {"value": nnx.Param(np.full((2,), value, np.float32))}})

    ck = Checkpoints(str(tmp_path), every=1, keep=1, best_metric="val/uar", asynchronous=False)
    for step, uar in [(1, 0.3), (2, 0.7), (3, 0.5), (4, 0.6)]:
        ck.save_best(step, state_of(step), {"val/uar": uar, "val/war": 0.0})
    ck.wait()
    restored, iterator_state, step = ck.restore(state_of(0), "best")
    assert step == 2 and iterator_state is None
    np.testing.assert_array_equal(np.asarray(restored["w"]["value"][...]), [2.0, 2.0])
    assert ck.best_metrics() == {"val/uar": 0.7, "val/war": 0.0, "step": 2}
    with pytest.raises(KeyError, match="val/missing"):
        Checkpoints(str(tmp_path / "x"), every=1, keep=1, best_metric="val/missing").save_best(
            1, state_of(1), {"val/uar": 1.0})
    ck.close()


def test_zero_steps_saves_the_initial_state_and_a_longer_run_resumes_from_it(tmp_path):
    c = toy_config.get_config()
    c.total_steps = 0
    out = train(c, str(tmp_path))
    ckpts = Checkpoints(str(tmp_path), every=1, keep=1)
    try:
        assert ckpts.latest_step() == 0
        _, state = nnx.split(out["model"])
        restored, iterator, step = ckpts.restore(state)
    finally:
        ckpts.close()
    assert step == 0
    method = resolve_method(c.method)
    fresh = nnx.state(method.create(validate(c, method), nnx.Rngs(c.seed)))  # the config seed's initial model
    for a, b in zip(nnx.to_flat_state(restored), nnx.to_flat_state(fresh)):
        np.testing.assert_array_equal(np.asarray(a[1][...]), np.asarray(b[1][...]), err_msg=str(a[0]))
    assert not (tmp_path / "metrics.jsonl").exists() or read_metrics(str(tmp_path)) == []
    c.total_steps = 3
    assert train(c, str(tmp_path))["step"] == 3
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 2, 3]


def test_rerun_of_a_finished_run_does_not_train_again(tmp_path, caplog):
    c = toy_config.get_config()
    c.tensorboard = True
    first = train(c, str(tmp_path))
    if importlib.util.find_spec("tensorflow"):
        assert list(tmp_path.glob("events.out.tfevents.*"))  # TensorBoard scalars were written
    else:  # e.g. a GPU machine without TensorFlow: training goes on, JSONL only, and says so
        assert "TensorBoard summaries off" in caplog.text
    before = (tmp_path / "metrics.jsonl").read_text()
    again = train(c, str(tmp_path))
    assert (tmp_path / "metrics.jsonl").read_text() == before
    assert again["val"]["val/uar"] == pytest.approx(first["val"]["val/uar"])
    assert json.loads((tmp_path / "config.json").read_text())["total_steps"] == c.total_steps


def test_eval_cli_latest_checkpoint_with_override_and_usage_errors(tmp_path, capsys):
    assert eval_cli.main([f"--workdir={tmp_path}"]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert eval_cli.main([]) == 2
    c = toy_config.get_config()
    c.total_steps, c.best_metric = 4, ""  # no best checkpoint: "best" falls back to the latest
    train(c, str(tmp_path))
    assert eval_cli.main([f"--workdir={tmp_path}", "--override=input.random.num_val=10"]) == 0
    report = json.loads((tmp_path / "eval_val_latest.json").read_text())
    assert report["step"] == 4 and report["num_examples"] == 10 and report["checkpoint"] == "latest"
    assert eval_cli.main([f"--workdir={tmp_path}", "--override=input.no_such=1"]) == 2
    assert "no_such" in capsys.readouterr().err
