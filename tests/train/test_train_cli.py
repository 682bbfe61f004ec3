"""``fer-jax train`` flags: config files with variants and command-line overrides, usage errors."""

import json
import os

import pytest
from train_helpers import REPO, read_metrics

from fer_jax.commands import train as cli

TOY = os.path.join(os.path.dirname(__file__), "toy_config.py")


def test_overrides_reach_the_run(tmp_path):
    (tmp_path / "command.txt").write_text("a start that failed before its first checkpoint\n")
    rc = cli.main([f"--config={TOY}", f"--workdir={tmp_path}", "--config.total_steps=3",
                   "--config.toy.hidden=5", "--config.input.split_val=", "--config.log_every=1"])
    assert rc == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["total_steps"] == 3 and saved["toy"]["hidden"] == 5 and saved["input"]["split_val"] == ""
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 2, 3]
    assert not list(tmp_path.glob("eval_*.json"))  # split_val="" turned evaluation off
    # The model card's "how it was trained": the command that started the run, kept on resume.
    first = (tmp_path / "command.txt").read_text()
    assert first.startswith("fer-jax train --config=") and "--config.toy.hidden=5" in first
    assert cli.main([f"--config={TOY}", f"--workdir={tmp_path}", "--config.total_steps=4", "--config.toy.hidden=5",
                     "--config.input.split_val="]) == 0
    assert (tmp_path / "command.txt").read_text() == first


@pytest.mark.parametrize("argv, message", [
    ([f"--config={TOY}", "--config.no_such_field=1", "--workdir=w"], "no_such_field"),
    ([f"--config={TOY}"], "--workdir"),
    (["--workdir=w"], "--config"),
    (["--config=configs/mi_fer/ckplus.py:fold=12", "--workdir=w"], "fold=12"),
    (["--config=configs/mi_fer/synthface.py:huge", "--workdir=w"], "huge"),
    ([f"--config={TOY}", "--workdir=w", "--num_processes=2"], "--coordinator_address"),
    # a best checkpoint chosen on test data is refused, naming the metric and the split
    ([f"--config={TOY}", "--workdir=w", "--config.input.split_val=test"],
     "best_metric 'val/uar' is measured on split 'test' of 'random', a test split"),
    ([f"--config={TOY}", "--workdir=w", "--config.input.split_val=test@fold2"], "'test@fold2'"),
    ([f"--config={TOY}", "--workdir=w", "--config.input.split_val=val+fold1"], "a test split"),
])
def test_usage_errors_exit_2_with_a_reason(argv, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("FER_JAX_COORDINATOR", raising=False)
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("spec, split_train, split_val, classes", [
    ("synthface.py:tiny", "train", "val", 7),
    ("ckplus.py:fold=3", "train@fold3", "test@fold3", 7),
    ("oulu_casia.py:tiny,fold=9", "train@fold9", "test@fold9", 6),
    ("mmi.py", "train@fold0", "test@fold0", 6),
])
def test_mi_fer_configs_load_with_variants_and_overrides(spec, split_train, split_val, classes, monkeypatch):
    monkeypatch.chdir(REPO)
    fv = cli.parse([f"--config=configs/mi_fer/{spec}", "--config.mi.weight=0.25", "--workdir=w"],
                   "fer-jax train", cli._define_flags)
    c = fv.config
    assert (c.input.split_train, c.input.split_val) == (split_train, split_val)
    assert c.num_classes == len(c.class_names) == classes and c.mi.weight == 0.25
    tiny = "tiny" in spec
    assert c.model.encoder == ("tiny" if tiny else "resnet18") and c.input.size == (32 if tiny else 112)
    for field in ("seed", "total_steps", "log_every", "eval_every", "ckpt_every", "keep_ckpts", "best_metric"):
        assert field in c
    assert set(c.optim) >= {"name", "lr", "weight_decay", "schedule", "warmup_steps", "grad_clip"}
    assert set(c.mi) >= {"weight", "warmup_steps", "estimator", "estimator_steps", "hidden", "optim"}


@pytest.mark.parametrize("spec", ["ifer/rafdb.py:tiny,scratch", "ifer/sfew.py:scratch", "ifer/affectnet.py:scratch",
                                  "stt/afew.py", "stt/dfew.py:fold=2", "mi_fer/ckplus.py:fold=3",
                                  "au/bp4d_finetune.py:scratch", "au/bp4d_finetune.py:scratch,fold=1",
                                  "au/disfa_finetune.py:scratch,fold=0"])
def test_shipped_configs_choose_no_checkpoint_on_test_data(spec, monkeypatch):
    from fer_jax.core.registry import resolve_method
    from fer_jax.train.config_check import validate

    monkeypatch.chdir(REPO)
    fv = cli.parse([f"--config=configs/{spec}", "--workdir=w"], "fer-jax train", cli._define_flags)
    validate(fv.config, resolve_method(fv.config.method))  # raises ConfigError on a best-on-test config
