"""`fer-jax demo`: the training-coverage selection, and the whole pipeline at smoke size."""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from data_pipelines.synthface.facs import EXPRESSIONS
from fer_jax import cli
from fer_jax.commands.demo import select_coverage

REPO = Path(__file__).resolve().parents[2]


def _write_labels(root, identities=6, clips=2):
    recs = []
    for ident in range(identities):
        split = "train" if ident < 4 else ("val" if ident == 4 else "test")
        for expr in range(7):
            for k in range(clips):
                recs.append({"clip_id": f"c{ident}_{expr}_{k}", "file": f"videos/c{ident}_{expr}_{k}.mp4",
                             "expression": expr, "identity": ident, "split": split})
    root.mkdir(parents=True, exist_ok=True)
    (root / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")


def test_select_coverage_limits_training_identities_only(tmp_path):
    _write_labels(tmp_path / "src", identities=9)
    select_coverage(tmp_path / "src", tmp_path / "out", per_identity=3, seed=0)
    recs = [json.loads(line) for line in open(tmp_path / "out" / "labels.jsonl")]
    by_id: dict[int, set] = {}
    for r in recs:
        by_id.setdefault(r["identity"], set()).add(r["expression"])
        assert r["file"].startswith(str(tmp_path / "src"))  # points at the original videos
    for ident in range(4):
        assert len(by_id[ident]) == 3  # training identities: 3 of 7 expressions
    for ident in range(4, 9):
        assert by_id[ident] == set(range(7))  # val/test: everything
    train_classes = Counter(r["expression"] for r in recs if r["split"] == "train")
    assert max(train_classes.values()) - min(train_classes.values()) <= 2 * 2  # balanced within one identity


def test_select_coverage_can_keep_fewer_clips_of_training_identities(tmp_path):
    _write_labels(tmp_path / "src", identities=6, clips=3)
    select_coverage(tmp_path / "src", tmp_path / "out", per_identity=7, seed=0, train_clips=1)
    recs = [json.loads(line) for line in open(tmp_path / "out" / "labels.jsonl")]
    per_split = Counter(r["split"] for r in recs)
    assert per_split == {"train": 4 * 7 * 1, "val": 7 * 3, "test": 7 * 3}
    assert all(r["clip_id"].endswith("_0") for r in recs if r["split"] == "train")


def test_select_coverage_all_expressions_keeps_everything(tmp_path):
    _write_labels(tmp_path / "src")
    select_coverage(tmp_path / "src", tmp_path / "out", per_identity=7, seed=0)
    assert len(open(tmp_path / "out" / "labels.jsonl").read().splitlines()) == 6 * 7 * 2


@pytest.mark.slow
def test_quick_demo_writes_a_complete_report(tmp_path):
    # .ci/run has already run `fer-jax demo --quick` in a virtualenv with only the README's first
    # installation and names its workdir here: its report is checked instead of running the demo twice
    given = os.environ.get("FER_JAX_QUICK_DEMO_WORKDIR")
    work = Path(given) if given else tmp_path / "demo"
    if not given:
        assert cli.main(["demo", "--quick", "--workdir", str(work), "--workers", "1"]) == 0
    assert (work / "report.json").is_file(), f"no report.json in {work}"
    report = json.loads((work / "report.json").read_text())
    assert set(report["runs"]) == {"mi_fer", "baseline"}
    for run in report["runs"].values():
        assert 0.0 <= run["war"] <= 1.0 and 0.0 <= run["uar"] <= 1.0
        audit = run["identity_audit"]
        assert 0.0 < audit["chance"] <= 1.0 and 0.0 <= audit["linear_acc"] <= 1.0
        assert audit["repeats"] == 10 and len(audit["mlp_acc_splits"]) == 10
        assert run["identity_audit_seen"]["n_identities"] >= 2 and 0.0 <= run["war_seen"] <= 1.0
        assert len(run["confusion"]) == 7
        # the audit by expression class: every class of the test clips, each probe's accuracy in [0, 1]
        per_class = audit["per_class"]
        assert set(per_class) <= set(EXPRESSIONS) and len(per_class) >= 2
        assert all(0.0 <= row[k] <= 1.0 for row in per_class.values() for k in ("linear_acc", "mlp_acc"))
        assert sum(row["n_test"] for row in per_class.values()) == pytest.approx(audit["n_test"], abs=len(per_class))
    assert report["runs"]["mi_fer"]["step"] > 0
    assert {"war_delta_points", "linear_acc_above_chance_mi_fer", "mlp_acc_splits_closer"} <= set(report["comparison"])
    assert 0 <= report["comparison"]["mlp_acc_splits_closer"] <= report["comparison"]["audit_splits"] == 10
    md = (work / "report.md").read_text()
    assert "identity audit" in md and "Results on unseen identities" in md and "of 10 splits" in md
    assert report["penalty"] == "refit" and "penalty `refit`" in md and "head sway 0.5" in md
    assert "audit on the training identities" in md and "(0 before step 3, full from step 9)" in md
    assert "fer-jax train --config=configs/mi_fer/demo.py:baseline,seed=0,steps=20,width=8,size=32" in md
    assert "seed 0 (data, identity encoder and training)" in md and report["args"]["seed"] == 0
    assert "Identity probes by expression class" in md and "| surprise |" in md
    # the train runs log the apex constraint's two parts apart
    logged = [json.loads(line) for line in open(work / "mi_fer" / "metrics.jsonl")]
    assert any("loss/apex_ce" in r and "loss/apex_agree" in r for r in logged)
    for png in ("identity_audit.png", "curves.png", "mi_fer/confusion_test.png", "baseline/confusion_test.png"):
        assert (work / png).read_bytes()[:4] == b"\x89PNG"
    # A second run finds every stage done and rewrites the same report.
    assert cli.main(["demo", "--quick", "--workdir", str(work), "--workers", "1"]) == 0
    again = json.loads((work / "report.json").read_text())
    assert again["runs"]["mi_fer"]["war"] == report["runs"]["mi_fer"]["war"]


def _former_train_config(args, data_dir, backbone, mi_weight):
    """What ``fer_jax.commands.demo.train_config`` set in Python before ``configs/mi_fer/demo.py`` held it, plus
    the one change made since (augmentation off)."""
    from configs.mi_fer import synthface

    c = synthface.get_config("tiny")
    c.seed = args.seed
    c.total_steps = args.steps
    c.eval_every = max(args.steps // 3, 1)
    c.ckpt_every = max(args.steps // 3, 1)
    c.log_every = max(args.steps // 60, 1)
    c.mi.weight = mi_weight
    c.model.width = args.width
    c.mi.start_step = args.steps * 3 // 20
    c.mi.warmup_steps = args.steps * 3 // 10
    c.input.dataset = "synthface"
    c.input.data_dir = str(data_dir)
    c.input.identity_backbone = backbone
    c.input.size = args.size
    c.input.split_val = "val"
    c.input.augment = False  # since issue 17: no flip/shift in the demo (README.md of mi_fer)
    return c


def _demo_args(argv, monkeypatch):
    """The arguments ``fer-jax demo ARGV`` runs with: the demo's own ``main`` (parser, ``--quick`` sizes,
    defaults from configs/mi_fer/demo.py) up to the run, which is replaced by a stub that keeps them."""
    import logging

    from fer_jax.commands import demo

    seen = []
    monkeypatch.setattr(demo, "run", lambda args: seen.append(args) or {"runs": {}})
    levels = {name: logging.getLogger(name).level for name in ("fer_jax", "absl")}  # main sets them
    try:
        assert demo.main(list(argv)) == 0
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    (args,) = seen
    return args


# The demo's training flags before they moved to configs/mi_fer/demo.py (argparse defaults, --quick).
FORMER_FLAGS = {(): dict(seed=0, steps=2000, width=16, size=48, mi_weight=0.2),
          ("--quick",): dict(seed=0, steps=20, width=8, size=32, mi_weight=0.2)}


@pytest.mark.parametrize("argv", [(), ("--quick",), ("--quick", "--steps", "7", "--mi-weight", "0.5", "--seed", "3")])
def test_demo_configs_equal_what_the_demo_built_in_python(argv, tmp_path, monkeypatch):
    """configs/mi_fer/demo.py reproduces the demo's former Python-built configs (+ augmentation off), for
    both runs."""
    from fer_jax.commands.demo import train_config

    args = _demo_args(list(argv), monkeypatch)
    if tuple(argv) in FORMER_FLAGS:
        assert {k: getattr(args, k) for k in FORMER_FLAGS[tuple(argv)]} == FORMER_FLAGS[tuple(argv)]
    data_dir, backbone = tmp_path / "tfds", f"flax:{tmp_path / 'identity_encoder'}"
    for baseline, weight in ((False, args.mi_weight), (True, 0.0)):
        new = train_config(args, data_dir, backbone, baseline)
        old = _former_train_config(args, data_dir, backbone, weight)
        new.progress_bar = old.progress_bar = False
        assert new.to_dict() == old.to_dict()


def test_demo_config_launches_the_demo_run_from_the_train_cli(tmp_path, monkeypatch):
    """``fer-jax train --config=configs/mi_fer/demo.py:data_dir=...,backbone=flax:...`` = the demo's run."""
    from fer_jax.commands import train as train_cli
    from fer_jax.commands.demo import train_config

    monkeypatch.chdir(REPO)
    data_dir, backbone = tmp_path / "tfds", f"flax:{tmp_path / 'identity_encoder'}"
    for word, baseline in (("", False), ("baseline,", True)):
        fv = train_cli.parse([f"--config=configs/mi_fer/demo.py:{word}data_dir={data_dir},backbone={backbone}",
                              "--workdir=w"], "fer-jax train", train_cli._define_flags)
        want = train_config(_demo_args([], monkeypatch), data_dir, backbone, baseline)
        want.progress_bar = fv.config.progress_bar
        assert fv.config.to_dict() == want.to_dict()
    with pytest.raises(ValueError, match="stepz"):
        from configs.mi_fer import demo as experiment

        experiment.get_config("stepz=3")


def test_demo_set_overrides_both_runs_as_the_train_cli_flags_it_records(tmp_path, monkeypatch):
    """``fer-jax demo --set KEY=VALUE`` changes both runs' config, and the ``--config.KEY=VALUE`` flag it
    writes into the recorded train command builds the same config through ``fer-jax train``."""
    from fer_jax.commands import train as train_cli
    from fer_jax.commands.demo import train_config
    from fer_jax.core.settings import ConfigError

    monkeypatch.chdir(REPO)
    args = _demo_args(["--set", "mi.refit_memory=64", "--set", "mi.refit_ridge=3.0"], monkeypatch)
    data_dir, backbone = tmp_path / "tfds", f"flax:{tmp_path / 'identity_encoder'}"
    for word, baseline in (("", False), ("baseline,", True)):
        got = train_config(args, data_dir, backbone, baseline)
        assert (got.mi.refit_memory, got.mi.refit_ridge) == (64, 3.0)
        fv = train_cli.parse([f"--config=configs/mi_fer/demo.py:{word}data_dir={data_dir},backbone={backbone}",
                              *(f"--config.{item}" for item in args.set), "--workdir=w"],
                             "fer-jax train", train_cli._define_flags)
        got.progress_bar = fv.config.progress_bar
        assert fv.config.to_dict() == got.to_dict()
    with pytest.raises(ConfigError, match="mi.refit_memroy"):
        train_config(_demo_args(["--set", "mi.refit_memroy=64"], monkeypatch), data_dir, backbone)
