"""The evaluators on fixed arrays: ICC(3,1)/MAE/PCC against pingouin/numpy/scipy, masking, degenerate
inputs, the embedding ratio, reconstruction PSNR, the registry and the evals config."""

import ml_collections
import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats

from fer_jax.core.settings import ConfigError
from fer_jax.evaluate import evaluators as ev
from fer_jax.evaluate.metrics import classification_report
from fer_jax.evaluate.runner import EvalSettings, eval_settings, scalar_metrics


def pingouin_icc3(pred, target):
    """pingouin's ICC3 (Shrout & Fleiss consistency, single rater; ``ICC(C,1)`` from pingouin 0.7)."""
    n = len(pred)
    long = pd.DataFrame({"row": np.tile(np.arange(n), 2), "rater": np.repeat(["pred", "target"], n),
                         "y": np.concatenate([pred, target])})
    table = pingouin.intraclass_corr(long, targets="row", raters="rater", ratings="y")
    table = table.set_index("Type")
    return float(table.loc["ICC(C,1)" if "ICC(C,1)" in table.index else "ICC3", "ICC"])  # renamed in 0.7


@pytest.mark.parametrize("n,seed,noise", [(3, 0, 1.0), (5, 1, 0.3), (40, 2, 1.0), (300, 3, 0.1), (300, 4, 5.0)])
def test_icc3_matches_pingouin(n, seed, noise):
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 5, n)
    pred = 0.7 * target + 0.4 + noise * rng.normal(size=n)  # biased and scaled: ICC3 != PCC
    assert ev.icc3(pred, target) == pytest.approx(pingouin_icc3(pred, target), abs=1e-10)


def test_icc3_is_consistency_not_absolute_agreement():
    target = np.arange(10.0)
    assert ev.icc3(target + 3.0, target) == pytest.approx(1.0)  # a constant offset is consistent
    assert ev.icc3(-target, target) == pytest.approx(-1.0)


def test_pcc_and_mae_against_scipy_and_numpy():
    cfg = ml_collections.ConfigDict(dict(target_names=("AU01", "AU02", "AU04")))
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 5, (50, 3))
    pred = target + rng.normal(size=(50, 3))
    out = ev.regression({"predictions": pred, "targets": target}, cfg)
    for j, name in enumerate(cfg.target_names):
        assert out["pcc"][name] == pytest.approx(scipy.stats.pearsonr(pred[:, j], target[:, j])[0], abs=1e-12)
        assert out["mae"][name] == pytest.approx(np.mean(np.abs(pred[:, j] - target[:, j])))
        assert out["icc"][name] == pytest.approx(pingouin_icc3(pred[:, j], target[:, j]), abs=1e-10)
    assert out["icc_mean"] == pytest.approx(np.mean(list(out["icc"].values())))
    assert out["num_labelled"] == {"AU01": 50, "AU02": 50, "AU04": 50} and out["constant"] == []


def test_regression_masks_unlabelled_rows_and_flattens_time():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 5, (20, 4, 2))  # [N, T, A]
    pred = target + 0.5 * rng.normal(size=target.shape)
    coded = rng.uniform(size=target.shape) > 0.3
    target_coded = np.where(coded, target, -1.0)  # -1: not coded (the data path's convention)
    cfg = ml_collections.ConfigDict()
    by_sign = ev.regression({"predictions": pred, "targets": target_coded}, cfg)
    # an explicit target_mask wins over the sign (here it keeps the complement of `coded`)
    by_mask = ev.regression({"predictions": pred, "targets": target, "target_mask": (~coded).astype(np.float32)}, cfg)
    for j in range(2):
        p, t, m = pred[..., j].ravel(), target[..., j].ravel(), coded[..., j].ravel()
        assert by_sign["icc"][str(j)] == pytest.approx(pingouin_icc3(p[m], t[m]), abs=1e-10)
        assert by_sign["num_labelled"][str(j)] == m.sum()
        assert by_mask["mae"][str(j)] == pytest.approx(np.mean(np.abs(p[~m] - t[~m])))
    unmasked = ev.regression({"predictions": pred, "targets": target_coded, "target_mask": np.ones_like(target)}, cfg)
    assert unmasked["mae_mean"] > by_sign["mae_mean"] + 0.5  # the -1s count when the mask says so


def test_regression_degenerate_inputs_give_documented_values_or_errors():
    cfg = ml_collections.ConfigDict(dict(target_names=("AU01", "AU02", "AU04")))
    pred = np.array([[1.0, 2.0, 0.5], [2.0, 2.0, 1.0], [3.0, 2.0, 1.5], [4.0, 2.0, 2.0]])
    target = np.array([[0.0, 2.0, 1.0], [0.0, 2.0, 1.0], [0.0, 2.0, 1.0], [0.0, 2.0, -1.0]])
    out = ev.regression({"predictions": pred, "targets": target}, cfg)
    # AU01: constant target; AU02: prediction and target constant (and equal); AU04: constant target too
    assert out["icc"] == {"AU01": 0.0, "AU02": 0.0, "AU04": 0.0}
    assert out["pcc"] == {"AU01": 0.0, "AU02": 0.0, "AU04": 0.0}
    assert out["constant"] == ["AU01", "AU02", "AU04"] and out["num_labelled"]["AU04"] == 3
    assert all(np.isfinite(v) for v in ev.flat_scalars(out).values())
    one_row = np.array([[1.0, -1.0, 2.0], [1.0, 3.0, -1.0], [2.0, -1.0, -1.0]])
    with pytest.raises(ValueError, match="'AU02' has 1 labelled rows"):
        ev.regression({"predictions": np.zeros((3, 3)), "targets": one_row}, cfg)
    with pytest.raises(ValueError, match="share a shape"):
        ev.regression({"predictions": np.zeros((3, 2)), "targets": np.zeros((3, 3))}, cfg)
    with pytest.raises(ValueError, match="2 names for 3 targets"):
        ev.regression({"predictions": pred, "targets": target},
                      ml_collections.ConfigDict(dict(target_names=("a", "b"))))


def test_classification_matches_metrics_report():
    cfg = ml_collections.ConfigDict(dict(num_classes=3, class_names=("a", "b", "c")))
    logits = np.eye(3)[[0, 1, 2, 2, 0, 1]] + 0.1
    label = np.array([0, 1, 2, 1, 0, 0])
    assert ev.classification({"logits": logits, "label": label}, cfg) == classification_report(
        label, np.argmax(logits, -1), 3, class_names=["a", "b", "c"])


def test_embedding_ratio_by_hand():
    feats = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 2.0], [0.0, 20.0], [0.0, 20.0]])
    label = np.array([5, 5, 7, 7, 9, 9])
    out = ev.embedding({"features": feats, "label": label}, ml_collections.ConfigDict())["embedding"]
    centres = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 20.0]])
    # squared distances, as the compact loss: every point is 1 from its centre; centres 82, 401, 461 apart
    assert np.allclose(centres, [[1, 0], [10, 1], [0, 20]])
    assert out["intra_sq"] == pytest.approx(4 / 6) and out["inter_sq"] == pytest.approx(944 / 3)
    assert out["ratio_sq"] == pytest.approx((4 / 6) / (944 / 3))
    with pytest.raises(ValueError, match=">= 2 classes"):
        ev.embedding({"features": feats, "label": np.zeros(6)}, ml_collections.ConfigDict())
    with pytest.raises(ValueError, match="collapsed"):
        ev.embedding({"features": np.zeros((6, 2)), "label": label}, ml_collections.ConfigDict())


def test_reconstruction_psnr_of_the_mean_mse():
    out = ev.reconstruction({"recon_mse": np.array([0.01, 0.03])}, ml_collections.ConfigDict())
    assert out["recon_mse"] == pytest.approx(0.02) and out["psnr"] == pytest.approx(10 * np.log10(50))
    assert ev.reconstruction({"recon_mse": np.zeros(3)}, ml_collections.ConfigDict())["psnr"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="per-example"):
        ev.reconstruction({"recon_mse": np.zeros((2, 2))}, ml_collections.ConfigDict())


def test_identity_audit_reads_identity_from_separable_features():
    rng = np.random.default_rng(0)
    identity = np.repeat(np.arange(4), 6)
    feats = np.eye(4)[identity] * 3 + 0.1 * rng.normal(size=(24, 4))
    out = ev.identity_audit({"features": feats, "identity": identity}, ml_collections.ConfigDict(dict(seed=0)),
                            hidden=8, steps=100)["identity_audit"]
    assert out["linear_acc"] == 1.0 and out["chance"] == pytest.approx(0.25)


def test_registry_merging_and_missing_outputs():
    cfg = ml_collections.ConfigDict(dict(num_classes=2))
    arrays = {"logits": np.array([[1.0, 0.0], [0.0, 1.0]]), "label": np.array([0, 1]),
              "features": np.array([[0.0], [1.0]]), "recon_mse": np.array([0.1, 0.1])}
    report = ev.run_all(("classification", "embedding", "reconstruction"), arrays, cfg)
    assert report["war"] == 1.0 and report["embedding"]["ratio_sq"] == 0.0 and "psnr" in report
    with pytest.raises(ValueError, match="already reported"):
        ev.run_all(("classification", "classification"), arrays, cfg)
    with pytest.raises(KeyError, match="needs eval outputs \\['predictions', 'targets'\\]"):
        ev.run_all(("regression",), arrays, cfg)
    with pytest.raises(ConfigError, match="unknown evaluator 'regresion'"):
        ev.get("regresion")


class _Method:
    evaluators = ("regression",)


def test_eval_settings_defaults_names_and_errors():
    c = ml_collections.ConfigDict(dict(eval_every=5, input=dict(split_val="val")))
    assert eval_settings(c, _Method()) == {"val": EvalSettings(split="val", evaluators=("regression",))}
    assert eval_settings(ml_collections.ConfigDict(dict(input=dict(split_val=""))), _Method()) == {}
    c.evals = ml_collections.ConfigDict(dict(
        val={}, test=dict(split="test", evaluators=("regression", "identity_audit"), every=3,
                          options=dict(identity_audit=dict(repeats=2)))))
    got = eval_settings(c, _Method())
    assert got["val"] == EvalSettings(split="val", evaluators=("regression",))
    assert got["test"].every == 3 and got["test"].options == {"identity_audit": {"repeats": 2}}
    for bad, match in [(dict(test=dict(splt="test")), "evals.test.splt"),
                       (dict(test=dict(evaluators=("nope",))), "unknown evaluator 'nope'"),
                       (dict(test=dict(options=dict(identity_audit=dict(repeats=2)))), "evals.test.options"),
                       (dict(test=dict(evaluators=("identity_audit",), options=dict(identity_audit=dict(rpt=1)))),
                        "unknown option evals.test.options.identity_audit.rpt"),
                       (dict(train={}), "other than 'train'")]:
        c.evals = ml_collections.ConfigDict(bad)
        with pytest.raises(ConfigError, match=match):
            eval_settings(c, _Method())


def test_summary_names():
    report = {"war": 0.5, "uar": np.float32(0.25), "per_class_recall": {"a": 1.0, "b": 0.0},
              "confusion": [[1, 0], [1, 0]], "icc": {"AU01": 0.3}, "constant": ["AU01"], "split": "x"}
    assert scalar_metrics("test", report) == {"test/war": 0.5, "test/uar": 0.25, "test/recall/a": 1.0,
                                              "test/recall/b": 0.0, "test/icc/AU01": 0.3}
