"""A DISFA tree in the official layout -> ``fer-jax build disfa --store-frames`` (the real builder) ->
stage 1 per fold (``disfa_pretrain.py:fold=K``) -> ``fer-jax cv`` over the 3 subject-independent folds of
``disfa_finetune.py:pretrain=.../fold_{fold}`` -> a per-AU ICC/MAE/PCC table; plus the label-subset
record of a fold's training split."""

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(REPO, "tests", "data"))

from builder_helpers import FakeBackbone, face_frames, write_video  # noqa: E402

pytestmark = pytest.mark.slow
N_FRAMES, WINDOW = 24, 12


def write_disfa(root: str) -> None:
    """4 subjects, N_FRAMES frames each, intensities (t + 3j + i) % 6 in DISFA's 'frame,intensity' files."""
    from data_pipelines.disfa import Disfa

    for i in range(4):
        sn = f"SN{i + 1:03d}"
        video = os.path.join(root, "Videos_LeftCamera", f"LeftVideo{sn}_Comp.avi")
        write_video(video, face_frames(N_FRAMES, i), fps=20)
        au = (np.arange(N_FRAMES)[:, None] + 3 * np.arange(12)[None] + i) % 6
        d = os.path.join(root, "ActionUnit_Labels", sn)
        os.makedirs(d, exist_ok=True)
        for j, k in enumerate(Disfa.AUS):
            with open(os.path.join(d, f"{sn}_au{k}.txt"), "w") as f:
                f.write("".join(f"{t + 1},{au[t, j]}\n" for t in range(N_FRAMES)))


def test_disfa_tree_to_three_fold_per_au_table(tmp_path, monkeypatch):
    from configs.au import disfa_finetune, disfa_pretrain
    from data_pipelines.disfa import Disfa
    from data_pipelines.tf_compat import import_tfds
    from fer_jax.commands import cv
    from fer_jax.methods.au import label_subset
    from fer_jax.train.trainer import train

    tfds = import_tfds()
    monkeypatch.setattr(Disfa, "WINDOW", WINDOW)  # recordings of 24 frames -> two 12-frame clips each
    manual, data_dir = str(tmp_path / "manual"), str(tmp_path / "tfds")
    write_disfa(manual)
    b = Disfa(data_dir=data_dir, config=Disfa.make_config(size=32, identity_backbone="dlib", store_frames=True),
              backbone=FakeBackbone())
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))

    steps = dict(total_steps=2, ckpt_every=2, log_every=1)
    for fold in range(3):  # stage 1 on each fold's training side (labels unread)
        c = disfa_pretrain.get_config(f"tiny,fold={fold},data_dir={data_dir}")
        c.update(steps)
        c.input.update(dict(batch_size=2, window=8))
        c.contrastive.update(dict(view_frames=4, max_shift=2))
        train(c, str(tmp_path / "pre" / f"fold_{fold}"))

    wd = str(tmp_path / "ft")
    variant = f"tiny,fraction=0.5,data_dir={data_dir},pretrain={tmp_path}/pre/fold_{{fold}}"
    status = cv.main([f"--config=configs/au/disfa_finetune.py:{variant}", "--folds=3", f"--workdir={wd}",
                      "--config.total_steps=2", "--config.ckpt_every=2", "--config.eval_every=2",
                      "--config.input.batch_size=2", "--config.input.eval_batch_size=2"])
    assert not status
    with open(os.path.join(wd, "cv.json")) as f:
        table = json.load(f)
    text = json.dumps(table)
    for name in disfa_finetune.get_config("fold=0,scratch").target_names:  # a row per AU, every metric
        for metric in ("icc", "mae", "pcc"):
            assert f"{metric}/{name}" in text, (metric, name)
    md = open(os.path.join(wd, "cv.md")).read()
    assert "AU26" in md and "icc" in md and "nan" not in md.lower()
    for fold in range(3):
        with open(os.path.join(wd, f"fold_{fold}", "config.json")) as f:
            cfg = json.load(f)
        assert cfg["init_from"]["pretrain"]["source"] == f"{tmp_path}/pre/fold_{fold}"
        assert cfg["input"]["split_val"] == f"test@fold{fold}"

    # every fold's run recorded its label subset when it started (Method.on_start)
    for fold in range(3):
        with open(os.path.join(wd, f"fold_{fold}", "label_subset.json")) as f:
            rec = json.load(f)
        assert rec["split"] == f"train@fold{fold}" and rec["clips"] >= 4 and rec["frames"] == rec["clips"] * WINDOW
    # the record of a fold's training split at another fraction
    c = disfa_finetune.get_config(f"tiny,fold=0,fraction=0.5,data_dir={data_dir},scratch")
    from fer_jax.core.registry import resolve_method
    from fer_jax.core.settings import parse

    path = label_subset.record_from_dataset(parse(c, resolve_method(c.method)), str(tmp_path / "record"))
    rec = json.load(open(path))
    assert rec["fraction"] == 0.5 and rec["split"] == "train@fold0" and rec["clips"] == 4  # 2 subjects x 2 clips
    assert rec["frames"] == 4 * WINDOW and 0 < rec["chosen_frames"] < rec["frames"]
