"""A DFEW fixture in the official layout (frames as JPEGs under Clip/clip_224x224, Former-DFER split files)
goes through ``fer-jax build dfew --store-frames`` -> ``fer-jax cv`` (5 folds of a few STT steps) -> cv.md
with a row per fold, the mean, and per-class recall. One clip is shorter than 16 frames: the data path
still serves 16 frames of it: runs starting in time order, its last frame repeated (configs/stt, data_pipelines/dfew)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import fer_jax.identity as identity
from fer_jax.commands import build as build_cli
from fer_jax.commands import cv

pytestmark = pytest.mark.slow  # five folds of training, in this process
CLIPS_PER_FOLD, FRAMES, SHORT = 3, 18, 6


class MeanColour:
    """Identity stand-in for the build (STT reads no identity): mean and spread of the colours."""

    name, dim = "mean-colour-6", 6

    def embed(self, images):
        x = np.asarray(images, np.float32).reshape(len(images), -1, 3)
        f = np.concatenate([x.mean(1), x.std(1)], 1) + 1.0
        return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)


def write_tree(root: str) -> dict[str, int]:
    """5 folds x 3 clips (labels 0, 1, 2: brightness ramps of a class colour, so frame order is visible)."""
    colours = np.array([[220, 80, 80], [80, 220, 80], [80, 80, 220]], np.float32)
    labels, folds = {}, {k: [] for k in range(1, 6)}
    for k in range(1, 6):
        for j in range(CLIPS_PER_FOLD):
            name = f"{(k - 1) * CLIPS_PER_FOLD + j + 1:05d}"
            n = SHORT if name == "00001" else FRAMES
            d = os.path.join(root, "Clip", "clip_224x224", name)
            os.makedirs(d)
            for t in range(n):
                img = np.clip(colours[j] * 0.5 + 6 * t, 0, 255).astype(np.uint8)
                Image.fromarray(np.full((48, 48, 3), img)).save(os.path.join(d, f"{name}_{t + 1:05d}.jpg"), quality=95)
            folds[k].append(f"/home/user/datasets/DFEW_Face/{name} {n} {j}\n")
            labels[name] = j
    ann = os.path.join(root, "annotation")
    os.makedirs(ann)
    for k in folds:
        with open(os.path.join(ann, f"DFEW_set_{k}_test.txt"), "w") as f:
            f.writelines(folds[k])
        with open(os.path.join(ann, f"DFEW_set_{k}_train.txt"), "w") as f:
            f.writelines(line for j in folds if j != k for line in folds[j])
    return labels


def test_build_then_five_fold_cv_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(identity, "get_backbone", lambda spec: MeanColour())
    manual, data, work = str(tmp_path / "manual"), str(tmp_path / "tfds"), str(tmp_path / "cv")
    write_tree(manual)
    assert build_cli.main(["dfew", "--data-dir", data, "--manual-dir", manual, "--size", "32", "--store-frames"]) == 0

    from data_pipelines.input_pipeline import make_iterator

    cfg = dict(dataset="dfew", data_dir=data, size=32, identity_backbone="dlib", segments=8, frames_per_segment=2,
               batch_size=3, eval_batch_size=3, split_train="train@fold0", split_val="test@fold0")
    spec = {"frames": None, "label": None}
    (batch,) = list(make_iterator(cfg, "test@fold0", seed=0, process_index=0, process_count=1, train=False,
                                  spec=spec))
    short = batch["frames"][list(batch["label"]).index(0)]  # clip 00001: 6 frames on disk
    assert short.shape == (16, 32, 32, 3)
    level = short.mean(axis=(1, 2, 3))
    # 8 runs of 2 frames: runs start in time order (neighbouring runs may share a frame), each run is two
    # consecutive frames, and the last run repeats the last frame
    assert np.all(np.diff(level[0::2]) >= -1e-3) and np.all(level[1::2] >= level[0::2] - 1e-3)
    assert np.isclose(level[-1], level[-2], atol=2e-3) and level[-1] == pytest.approx(level.max(), abs=2e-3)

    flags = ["--config.total_steps=2", "--config.ckpt_every=2", "--config.eval_every=2", "--config.log_every=1",
             "--config.model.width=16", "--config.model.heads=2", "--config.model.depth=1",
             "--config.model.backbone_width=8", "--config.input.batch_size=6", "--config.input.eval_batch_size=3",
             "--config.progress_bar=False", "--config.tensorboard=False", f"--config.input.data_dir={data}"]
    assert cv.main(["--config=configs/stt/dfew.py:tiny,fold", "--folds=5", f"--workdir={work}", *flags]) == 0
    table = open(os.path.join(work, "cv.md")).read()
    report = json.load(open(os.path.join(work, "cv.json")))
    assert [r["fold"] for r in report["folds"]] == [0, 1, 2, 3, 4] and "uar" in report["mean"]
    for k in range(5):
        assert f"| {k} " in table or f"|{k}|" in table.replace(" ", "")
    for word in ("uar", "war", "happy", "sad", "neutral"):
        assert word in table.lower()
    done = json.load(open(os.path.join(work, "fold_3", "cv_eval.json")))
    assert done["report"]["num_examples"] == CLIPS_PER_FOLD and "embedding" in done["report"]
