"""``fer-jax cv``: three folds of the toy config trained, tabulated (cv.json/cv.md) and not retrained on
a re-run; the variant rewriting; regression tables with per-target columns."""

import json
import os

import numpy as np
import pytest

from fer_jax.commands import cv
from fer_jax.evaluate import tables

TOY_FOLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy_fold_config.py")


@pytest.mark.parametrize("given,want", [
    ("a.py", "a.py:fold=2"), ("a.py:tiny", "a.py:tiny,fold=2"), ("a.py:fold,tiny", "a.py:fold=2,tiny"),
    ("a.py:tiny,fold=7", "a.py:tiny,fold=2")])
def test_with_fold(given, want):
    assert cv.with_fold(given, 2) == want
    assert cv.argv_for_fold(["--config", given, "--folds=3"], 2) == [f"--config={want}", "--folds=3"]


def test_cv_trains_three_folds_writes_tables_and_skips_finished_folds(tmp_path, monkeypatch):
    argv = [f"--config={TOY_FOLD}:fold", "--folds=3", f"--workdir={tmp_path}", "--config.input.random.num_val=15"]
    assert cv.main(argv) == 0
    summary = json.loads((tmp_path / "cv.json").read_text())
    assert [r["fold"] for r in summary["folds"]] == [0, 1, 2] and summary["checkpoint"] == "latest"
    for k, row in enumerate(summary["folds"]):
        assert row["split"] == f"test@fold{k}" and row["step"] == 6
        saved = json.loads((tmp_path / f"fold_{k}" / "config.json").read_text())
        assert saved["input"]["split_val"] == f"test@fold{k}" and saved["input"]["random"]["num_val"] == 15
        assert row["metrics"]["num_examples"] == 15
    wars = [r["metrics"]["war"] for r in summary["folds"]]
    assert summary["mean"]["war"] == pytest.approx(np.mean(wars))
    assert summary["sd"]["war"] == pytest.approx(np.std(wars, ddof=1))
    assert {"uar", "recall/a", "recall/b", "recall/c"} <= set(summary["mean"])
    md = (tmp_path / "cv.md").read_text()
    assert md.count("\n| 0 |") == md.count("\n| 2 |") == md.count("\n| mean |") == 2  # main + recall tables
    m, sd = summary["mean"], summary["sd"]
    assert f"| mean | {m['num_examples']:.0f} ± 0 | {m['uar']:.4f} ± {sd['uar']:.4f} | {m['war']:.4f} ± " in md
    assert "## recall\n\n| fold | a | b | c |" in md

    # re-run: finished folds are read back, not retrained; a deleted fold is redone alone
    import fer_jax.train.trainer as trainer

    trained, real_train = [], trainer.train

    def recording_train(config, workdir, **kw):
        trained.append(os.path.basename(workdir))
        return real_train(config, workdir, **kw)

    monkeypatch.setattr(trainer, "train", recording_train)
    before = (tmp_path / "cv.json").read_text()
    assert cv.main(argv) == 0 and trained == [] and (tmp_path / "cv.json").read_text() == before
    (tmp_path / "fold_1" / "cv_eval.json").unlink()
    assert cv.main(argv) == 0 and trained == ["fold_1"]
    assert json.loads((tmp_path / "cv.json").read_text())["mean"] == summary["mean"]


def test_cv_resuming_folds_with_another_config_needs_the_flag(tmp_path, capsys):
    base = [f"--config={TOY_FOLD}:fold", "--folds=2", f"--workdir={tmp_path}", "--config.total_steps=2",
            "--config.ckpt_every=2"]
    assert cv.main(base) == 0
    (tmp_path / "fold_0" / "cv_eval.json").unlink()  # fold 0 is opened again, not read back
    changed = [*base, "--config.toy.lr=0.05"]
    assert cv.main(changed) == 2
    err = capsys.readouterr().err
    assert "fold 0" in err and "toy.lr" in err
    assert cv.main([*changed, "--allow_config_change"]) == 0
    assert "toy.lr" in (tmp_path / "fold_0" / "config_changes.jsonl").read_text()


def test_cv_usage_errors(tmp_path, capsys):
    assert cv.main([f"--workdir={tmp_path}", "--folds=3"]) == 2
    assert cv.main([f"--config={TOY_FOLD}", f"--workdir={tmp_path}"]) == 2
    assert "--folds" in capsys.readouterr().err


def test_regression_tables_have_a_column_per_target():
    reports = [{"icc": {"AU01": 0.5 + k / 10, "AU02": 0.2}, "mae": {"AU01": 0.4, "AU02": 0.3},
                "pcc": {"AU01": 0.6, "AU02": float("nan") if k == 0 else 0.1}, "icc_mean": 0.35 + k / 20,
                "num_examples": 100, "constant": []} for k in range(3)]
    summary = tables.summarize([tables.fold_row(k, r) for k, r in enumerate(reports)])
    assert summary["mean"]["icc/AU01"] == pytest.approx(0.6) and summary["sd"]["icc/AU01"] == pytest.approx(0.1)
    assert summary["mean"]["pcc/AU02"] == pytest.approx(0.1) and summary["n"]["pcc/AU02"] == 2
    md = tables.markdown(summary)
    for group in ("icc", "mae", "pcc"):
        assert f"## {group}\n\n| fold | AU01 | AU02 |" in md
    assert "| 0 | 0.5000 | 0.2000 |" in md and "| mean | 0.6000 ± 0.1000 | 0.2000 ± 0.0000 |" in md
    assert "| 0 | 0.6000 | – |" in md  # the NaN PCC of fold 0 is shown as missing, not averaged in
    assert "| fold | icc_mean | num_examples |" in md and "| mean | 0.4000 ± 0.0500 | 100 ± 0 |" in md
