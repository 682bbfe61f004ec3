"""Metrics, the identity audit's probes and the report figures, on data whose answer is known."""

import math

import numpy as np
import pytest

from fer_jax.evaluate import plots
from fer_jax.evaluate.identity_audit import audit, compare_audits, split_by_identity
from fer_jax.evaluate.metrics import classification_report, confusion_matrix


def test_war_uar_per_class_and_confusion():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 0, 1, 1, 0, 2])
    r = classification_report(labels, preds, 4, ["a", "b", "c", "d"])
    assert r["war"] == pytest.approx(5 / 7)
    assert r["per_class_recall"]["a"] == pytest.approx(0.75) and r["per_class_recall"]["b"] == pytest.approx(0.5)
    assert math.isnan(r["per_class_recall"]["d"])  # no support: undefined, left out of UAR
    assert r["uar"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert r["confusion"][0] == [3, 1, 0, 0] and r["confusion"][1] == [1, 1, 0, 0]


def test_confusion_rejects_out_of_range_and_mismatched():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_split_is_per_identity_and_disjoint():
    identity = np.repeat(np.arange(5), [4, 3, 2, 1, 6])
    train, test = split_by_identity(identity, seed=1)
    assert not set(train) & set(test)
    assert set(identity[train]) == set(identity[test]) == {0, 1, 2, 4}  # the single-clip identity is dropped


def test_audit_finds_identity_only_when_features_carry_it():
    rng = np.random.default_rng(0)
    n_id, per = 10, 8
    identity = np.repeat(np.arange(n_id), per)
    centres = rng.normal(size=(n_id, 16)) * 3.0
    carrying = centres[identity] + rng.normal(size=(n_id * per, 16))
    clean = rng.normal(size=(n_id * per, 16))  # no identity information at all
    a, b = audit(carrying, identity, steps=200), audit(clean, identity, steps=200)
    assert a["chance"] == pytest.approx(0.1) and a["n_identities"] == n_id
    assert a["linear_acc"] > 0.9 and a["mlp_acc"] > 0.9
    assert b["linear_acc"] < 0.35 and b["mlp_acc"] < 0.35


def test_repeated_splits_average_and_compare_split_by_split():
    rng = np.random.default_rng(1)
    identity = np.repeat(np.arange(6), 6)
    centres = rng.normal(size=(6, 8))
    weak = centres[identity] + 1.5 * rng.normal(size=(36, 8))  # some identity, not all
    strong = 3.0 * centres[identity] + 0.5 * rng.normal(size=(36, 8))
    a = audit(weak, identity, steps=100, repeats=4)
    b = audit(strong, identity, steps=100, repeats=4)
    assert a["repeats"] == 4 and len(a["linear_acc_splits"]) == 4
    assert a["linear_acc"] == pytest.approx(np.mean(a["linear_acc_splits"]))
    assert a["mlp_acc_sd"] == pytest.approx(np.std(a["mlp_acc_splits"]))
    assert len(set(a["linear_acc_splits"])) > 1  # the halves differ, so the accuracies do
    # Split r holds the same clips in both audits, so a single split reproduces split r.
    assert audit(weak, identity, steps=100, seed=2)["linear_acc"] == pytest.approx(a["linear_acc_splits"][2])
    c = compare_audits(a, b)
    assert c["repeats"] == 4 and c["linear_acc_splits_closer"] == 4 and c["mlp_acc_splits_closer"] == 4
    assert c["linear_acc_above_chance_treated"] < c["linear_acc_above_chance_baseline"]
    assert compare_audits(b, a)["linear_acc_splits_closer"] == 0
    with pytest.raises(ValueError, match="different splits"):
        compare_audits(a, audit(weak, identity, steps=100, repeats=2))


def test_figures_are_written_as_png(tmp_path):
    paths = [
        plots.confusion_png([[3, 1], [0, 2]], ["x", "y"], str(tmp_path / "cm.png")),
        plots.curves_png({"a loss": [(1, 2.0), (2, 1.0)], "b loss": [(1, 2.5), (2, 1.5)]}, str(tmp_path / "c.png")),
        plots.audit_png({"r1": {"linear_acc": 0.8, "mlp_acc": 0.9, "chance": 0.1},
                         "r2": {"linear_acc": 0.2, "mlp_acc": 0.3, "chance": 0.1}}, str(tmp_path / "a.png")),
    ]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.png", "c.png", "cm.png"]  # no temp files left
