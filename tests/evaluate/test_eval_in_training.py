"""Evaluation chosen by the method/config inside the shared trainer: a regression method's ICC/MAE/PCC
with masked targets, and two named evaluations of one run, both recorded."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
import toy_config
import toy_regression

from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.evaluate import evaluators as ev
from fer_jax.evaluate.runner import evaluate_splits
from fer_jax.train.trainer import train


def read_metrics(workdir, split):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if r["split"] == split]


def test_regression_method_reports_icc_mae_pcc_on_labelled_targets_only(tmp_path):
    c = toy_regression.config()
    train_arrays, val = toy_regression.arrays(64, seed=0), toy_regression.arrays(30, seed=1)
    out = train(c, str(tmp_path), train_iter=ArrayIterator(train_arrays, 8, seed=0),
                eval_iter_fn=lambda: ArrayIterator(val, 8, train=False))  # 30 rows: the last batch is padded
    rows = read_metrics(tmp_path, "val")
    assert [r["step"] for r in rows] == [15, 30]
    last = rows[-1]
    for metric in ("icc", "mae", "pcc"):
        assert {f"val/{metric}/{n}" for n in c.target_names} <= set(last) and f"val/{metric}_mean" in last
    assert last["val/icc_mean"] > 0.8 and last["val/num_examples"] == 30
    report = json.loads((tmp_path / "eval_30.json").read_text())
    assert report["icc"]["AU02"] == pytest.approx(last["val/icc/AU02"]) and report["split"] == "val"
    assert list((tmp_path / "best").iterdir())  # best by val/icc_mean was saved

    # the recorded numbers are those of the coded (>= 0) frames only
    pred = np.asarray(out["model"].linear(jnp.asarray(val["x"])))
    coded = val["targets"] >= 0
    for j, name in enumerate(c.target_names):
        p, t, m = pred[..., j].ravel(), val["targets"][..., j].ravel(), coded[..., j].ravel()
        assert report["num_labelled"][name] == m.sum() < m.size
        assert last[f"val/icc/{name}"] == pytest.approx(ev.icc3(p[m], t[m]), abs=1e-5)
        assert last[f"val/mae/{name}"] == pytest.approx(np.mean(np.abs(p[m] - t[m])), abs=1e-5)
        assert abs(last[f"val/mae/{name}"] - np.mean(np.abs(p - t))) > 0.1  # the -1s would change it


def test_two_named_evaluations_in_one_run_are_both_recorded(tmp_path):
    c = toy_config.get_config()
    c.evals = dict(val=dict(), test=dict(split="test", evaluators=("classification", "embedding"), every=4))
    out = train(c, str(tmp_path))  # eval_every = 6, total 12
    val, test = read_metrics(tmp_path, "val"), read_metrics(tmp_path, "test")
    assert [r["step"] for r in val] == [6, 12] and [r["step"] for r in test] == [4, 8, 12]
    assert {"val/uar", "val/war", "val/recall/a"} <= set(val[0])
    assert not any(k.startswith("val/embedding") for k in val[0])
    assert {"test/uar", "test/embedding/ratio_sq", "test/recall/c"} <= set(test[0])
    assert sorted(p.name for p in tmp_path.glob("eval_*.json")) == [
        "eval_12.json", "eval_6.json", "eval_test_12.json", "eval_test_4.json", "eval_test_8.json"]
    assert json.loads((tmp_path / "eval_test_8.json").read_text())["split"] == "test"
    best = int(next((tmp_path / "best").iterdir()).name)
    assert best in (6, 12)  # best by val/uar is offered only at val's steps
    assert out["val"]["val/uar"] == val[-1]["val/uar"] and out["val"]["test/war"] == test[-1]["test/war"]

    # fer-jax eval / the demo: each split gets the evaluators of the config's evaluation of it
    got = evaluate_splits(c, str(tmp_path), ("test", "train"), checkpoint="latest")
    assert got["test"]["war"] == pytest.approx(test[-1]["test/war"]) and got["test"]["step"] == 12
    assert "embedding" in got["test"] and "embedding" not in got["train"]  # train: val's evaluators
    for key in ("war", "uar", "per_class_recall", "confusion", "features", "identity", "label", "pred"):
        assert key in got["train"], key  # what the demo reads
    assert got["train"]["pred"].shape == got["train"]["label"].shape == (48,)


def test_regression_on_random_data_with_two_evals_and_evaluating_the_workdir(tmp_path):
    c = toy_regression.config(evals=dict(val=dict(), test=dict(split="test", every=10)))
    train(c, str(tmp_path))  # the random dataset builds x, targets, target_mask and label from input_spec
    val, test = read_metrics(tmp_path, "val"), read_metrics(tmp_path, "test")
    assert [r["step"] for r in val] == [15, 30] and [r["step"] for r in test] == [10, 20, 30]
    assert test[-1]["test/icc_mean"] > 0.1 and "test/pcc/AU04" in test[-1]
    got = evaluate_splits(c, str(tmp_path), ("test",), checkpoint="latest")["test"]
    assert got["icc"]["AU04"] == pytest.approx(test[-1]["test/icc/AU04"], abs=1e-6)
    assert got["target_mask"].shape == (20, 4, 3)
    assert got["num_labelled"]["AU01"] == got["target_mask"][..., 0].sum() < 80  # uncoded frames left out
