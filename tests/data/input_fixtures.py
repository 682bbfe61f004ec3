"""Tiny datasets built with the real builders for the feature-group tests (tests/data, tests/train).

``build_synth``: a SynthFace source directory written by hand (labels.jsonl + real mp4 clips, no
rendering) and built by the SynthFace builder, optionally with decoded frames. Each class has its own
background colour, so a model can tell classes from frames or residual-free colour means; per-frame AU
intensities are ``(t + 2 * class + j) % 6`` with frames ``t % 5 == 4`` not coded (-1).
``build_stills``: a RAF-DB tree of class-coloured stills built by the RAF-DB builder.
"""

from __future__ import annotations

import json
import os

import numpy as np
from builder_helpers import FakeBackbone, write_images, write_video

SIZE, FRAMES, N_AUS = 32, 16, 12
CLASSES = 3
COLOURS = np.array([[200, 60, 60], [60, 200, 60], [60, 60, 200]], np.float32)


def class_frames(label: int, seed: int, n: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """uint8 [n, size, size, 3]: a class-coloured background brightening 6 levels a frame (so every frame
    is told apart from its neighbours) with a moving grey blob (real motion)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    base = COLOURS[label] + rng.normal(0, 8, (size, size, 3))
    out = []
    for t in range(n):
        blob = np.exp(-((yy - size / 2 - t * 0.5) ** 2 + (xx - size / 2 - t) ** 2) / 30.0)[..., None] * 80
        out.append(np.clip(base + 6 * t + blob, 0, 255).astype(np.uint8))
    return np.stack(out)


def au_truth(label: int) -> np.ndarray:
    t = np.arange(FRAMES)[:, None]
    au = ((t + 2 * label + np.arange(N_AUS)[None]) % 6).astype(np.float32)
    au[t[:, 0] % 5 == 4] = -1.0  # frames not coded
    return au


def write_synth_source(root: str, per_split: dict[str, int]) -> str:
    """labels.jsonl + videos/ in the layout ``fer-jax synthface`` writes."""
    os.makedirs(root, exist_ok=True)
    records, n = [], 0
    for split, count in per_split.items():
        for i in range(count):
            label = i % CLASSES
            clip_id = f"{split}_{i:03d}"
            write_video(os.path.join(root, "videos", f"{clip_id}.mp4"), class_frames(label, n))
            records.append({"clip_id": clip_id, "file": f"videos/{clip_id}.mp4", "expression": label,
                            "identity": n % 7 + (100 if split != "train" else 0), "split": split,
                            "apex_index": FRAMES - 2 if i % 2 else -1, "au_intensity": au_truth(label).tolist(),
                            "fps": 25.0, "n_frames": FRAMES})
            n += 1
    with open(os.path.join(root, "labels.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return root


def build_synth(data_dir: str, source_dir: str, *, store_frames: bool, identity_backbone: str = "dlib",
                per_split: dict[str, int] | None = None):
    from data_pipelines.synthface_tfds.builder import SynthFace

    if not os.path.isfile(os.path.join(source_dir, "labels.jsonl")):
        write_synth_source(source_dir, per_split or {"train": 12, "val": 6})
    config = SynthFace.make_config(size=SIZE, identity_backbone=identity_backbone, store_frames=store_frames)
    b = SynthFace(data_dir=data_dir, config=config, source_dir=source_dir, backbone=FakeBackbone())
    b.download_and_prepare()
    return b


def build_stills(data_dir: str, manual_dir: str, per_split: dict[str, int] | None = None):
    """RAF-DB layout; RAF-DB label code k (1..7) is class k - 1, coloured by ``COLOURS[k - 1]``."""
    from data_pipelines.rafdb import RafDb
    from data_pipelines.tf_compat import import_tfds

    lines = []
    for split, count in (per_split or {"train": 12, "test": 6}).items():
        for i in range(1, count + 1):
            stem, label = f"{split}_{i:05d}", (i - 1) % CLASSES
            write_images(os.path.join(manual_dir, "basic", "Image", "aligned"), class_frames(label, i, n=1),
                         [f"{stem}_aligned.jpg"])
            lines.append(f"{stem}.jpg {label + 1}\n")
    os.makedirs(os.path.join(manual_dir, "basic", "EmoLabel"), exist_ok=True)
    with open(os.path.join(manual_dir, "basic", "EmoLabel", "list_patition_label.txt"), "w") as f:
        f.writelines(lines)
    tfds = import_tfds()
    b = RafDb(data_dir=data_dir, config=RafDb.make_config(size=SIZE, identity_backbone="dlib"), backbone=FakeBackbone())
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return b


def input_cfg(data_dir: str, dataset: str = "synthface", **kw) -> dict:
    cfg = dict(dataset=dataset, data_dir=data_dir, identity_backbone="dlib", size=SIZE, batch_size=4,
               eval_batch_size=4, segments=2, shuffle_buffer=64)
    cfg.update(kw)
    return cfg
