"""`fer-jax demo stt`: the word dispatch (plain `fer-jax demo` stays MI-FER), the runs' configs against the
train commands the report records, the report from fabricated results, and the whole pipeline at smoke size."""

import json
import logging
import shlex
from pathlib import Path

import numpy as np
import pytest

from fer_jax import cli
from fer_jax.commands import demo, demo_stt

REPO = Path(__file__).resolve().parents[2]


def _main_args(module, argv, monkeypatch):
    """The arguments ``fer-jax demo ARGV`` hands ``module.run`` (stubbed: nothing is rendered or trained)."""
    seen = []
    monkeypatch.setattr(module, "run", lambda args: seen.append(args) or {"runs": {}, "attention": {"clips": 0}})
    levels = {name: logging.getLogger(name).level for name in ("fer_jax", "absl")}  # main sets them
    try:
        assert cli.main(["demo", *argv]) == 0
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    (args,) = seen
    return args


def test_plain_demo_is_still_mi_fer_and_the_stt_word_runs_the_stt_demo(monkeypatch):
    monkeypatch.setattr(demo_stt, "run", lambda args: pytest.fail("fer-jax demo ran the STT demo"))
    args = _main_args(demo, ["--quick"], monkeypatch)
    assert args.mi_weight > 0 and args.id_steps == 30  # MI-FER's parser and --quick sizes
    monkeypatch.setattr(demo, "run", lambda args: pytest.fail("fer-jax demo stt ran the MI-FER demo"))
    args = _main_args(demo_stt, ["stt"], monkeypatch)
    assert {k: getattr(args, k) for k in demo_stt.DEFAULTS} == demo_stt.DEFAULTS
    args = _main_args(demo_stt, ["stt", "--quick", "--steps", "9"], monkeypatch)
    assert (args.identities, args.size, args.steps) == (demo_stt.QUICK["identities"], demo_stt.QUICK["size"], 9)
    assert cli.main(["demo", "stt", "--size", "40"]) == 2  # not a multiple of 16


def test_demo_runs_are_the_train_commands_they_record(tmp_path, monkeypatch):
    """Both runs share data, steps and seed; ``--set`` reaches both runs, ``stt:`` only STT; the recorded
    ``fer-jax train`` command builds the same config."""
    from fer_jax.commands import train as train_cli
    from fer_jax.core.settings import ConfigError

    monkeypatch.chdir(REPO)
    args = _main_args(demo_stt, ["stt", "--steps", "40", "--seed", "2", "--set", "input.batch_size=8",
                                 "--set", "stt:compact.weight=0.0"], monkeypatch)
    data_dir = tmp_path / "tfds"
    configs = {}
    for name in demo_stt.RUNS:
        c = demo_stt.train_config(args, name, data_dir)
        configs[name] = c
        assert (c.total_steps, c.seed, c.input.size, c.input.batch_size) == (40, 2, 48, 8)
        assert c.input.data_dir == str(data_dir) and c.input.dataset == "synthface"
        cmd = shlex.split(demo_stt.train_command(args, name, data_dir, tmp_path / name))
        fv = train_cli.parse(cmd[2:], "fer-jax train", train_cli._define_flags)
        c.progress_bar = fv.config.progress_bar
        assert fv.config.to_dict() == c.to_dict()
    assert configs["stt"].method == "stt" and configs["baseline"].method == "rgb_baseline"
    assert configs["stt"].compact.weight == 0.0 and "compact" not in configs["baseline"]
    stt_in, base_in = configs["stt"].input, configs["baseline"].input
    assert all(stt_in[k] == base_in[k] for k in ("size", "segments", "frames_per_segment", "data_dir", "augment"))
    assert base_in.frames == stt_in.segments * stt_in.frames_per_segment  # the same frames, averaged
    bad = _main_args(demo_stt, ["stt", "--set", "compact.weight=0.0"], monkeypatch)  # the baseline has none
    with pytest.raises(ConfigError, match="compact"):
        demo_stt.train_config(bad, "baseline", data_dir)


def _fake_share(n_clips=8, t=8):
    rng = np.random.default_rng(0)
    imp = rng.dirichlet(np.ones(t), size=n_clips)
    inten = rng.uniform(0, 5, size=(n_clips, t))
    label = np.arange(n_clips) % 7
    from fer_jax.methods.stt.attention import expression_share

    share = expression_share(imp, inten, label)
    share["clips_arrays"] = {"importance": imp.tolist(), "intensity": inten.tolist(), "label": label.tolist(),
                             "pred": ((label + 1) % 7).tolist(),
                             "frame_index": np.tile(np.arange(t) * 3, (n_clips, 1)).tolist()}
    return share


def test_report_from_fabricated_results(tmp_path):
    from fer_jax.commands.demo_stt_report import pick_clips, write_report

    share = _fake_share()
    # one clip per true class first (neutral, label 0, is not among the measured clips)
    picked = pick_clips(share)
    labels = np.asarray(share["clips_arrays"]["label"])[picked]
    assert len(picked) == 6 and sorted(labels) == [1, 2, 3, 4, 5, 6]
    rec = {"war": 0.5, "uar": 0.4, "step": 10, "per_class_recall": {"anger": 0.25}, "confusion": [[0] * 7] * 7}
    report = {"args": dict(identities=8, frames=12, size=32, steps=10, seed=0),
              "dataset": {"test": {"clips": 8, "identities": 1}}, "runs": {"stt": rec, "baseline": dict(rec, war=0.3)},
              "train_commands": {"stt": "fer-jax train --config=x"}, "seconds": {"train stt": 1.0}}
    for run in report["runs"]:
        (tmp_path / run).mkdir()
        (tmp_path / run / "metrics.jsonl").write_text(
            "\n".join(json.dumps({"step": s, "split": "train", "loss/ce": 2.0 - s / 10}) for s in (1, 5, 10)))
    md = write_report(tmp_path, report, share, {"stt": "STT", "baseline": "baseline"}).read_text()
    assert "| STT | 10 | 0.500 | 0.400 |" in md and "| 0.25 |" in md and "| baseline | 10 | 0.300 |" in md
    assert f"| {share['clips']} | {share['share_mean']:.3f} ± {share['share_sd']:.3f} |" in md
    assert "`fer-jax train --config=x`" in md and "| train stt | 1.0 |" in md
    for png in ("curves.png", "attention_frames.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_quick_stt_demo_writes_a_complete_report_and_resumes(tmp_path):
    work = tmp_path / "demo_stt"
    argv = ["demo", "stt", "--quick", "--workdir", str(work), "--workers", "1"]
    assert cli.main(argv) == 0
    report = json.loads((work / "report.json").read_text())
    assert set(report["runs"]) == {"stt", "baseline"}
    for res in report["runs"].values():
        assert 0.0 <= res["war"] <= 1.0 and 0.0 <= res["uar"] <= 1.0 and res["step"] > 0
        assert len(res["confusion"]) == 7 and set(res["per_class_recall"]) <= set(json.loads(
            (work / "stt" / "config.json").read_text())["class_names"])
    a = report["attention"]
    assert a["clips"] >= 1 and 0.0 <= a["share_mean"] <= 1.0 and 0.0 < a["uniform_mean"] <= 1.0
    clips = json.loads((work / "stt" / "attention.json").read_text())["clips_arrays"]
    np.testing.assert_allclose(np.sum(clips["importance"], axis=1), 1.0, rtol=1e-4)
    assert np.shape(clips["intensity"]) == np.shape(clips["importance"]) == np.shape(clips["frame_index"])
    md = (work / "report.md").read_text()
    assert "Does STT look at the expression?" in md and "configs/rgb_baseline/synthface_wild.py:tiny" in md
    for png in ("curves.png", "attention_frames.png", "stt/confusion_test.png", "baseline/confusion_test.png"):
        assert (work / png).read_bytes()[:4] == b"\x89PNG"
    # A second call finds every stage done: nothing is trained again, the same report comes back.
    mtime = (work / "stt" / "trained.json").stat().st_mtime
    assert cli.main(argv) == 0
    again = json.loads((work / "report.json").read_text())
    assert again["runs"] == report["runs"] and again["attention"] == a
    assert (work / "stt" / "trained.json").stat().st_mtime == mtime
    assert all(s < 5.0 for s in again["seconds"].values()), again["seconds"]
