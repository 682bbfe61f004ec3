"""Shared helpers for the dataset-builder and input-pipeline tests (a uniquely named module: test
directories share one ``conftest`` module name, so helpers are not imported from there).

``FakeBackbone`` is a deterministic stand-in for the identity network, used in builder tests ONLY:
the real backbones (dlib, Flax) are tested on their own, and the builders' job here is layout
parsing, labels, subjects and folds, not face recognition.
"""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

SIZE = 32


class FakeBackbone:
    name = "fake-mean-colour-8"
    dim = 8

    def embed(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, np.float32).reshape(len(images), -1, 3)
        feats = np.concatenate([x.mean(1), x.std(1), x.min(1)[:, :1], x.max(1)[:, :1]], 1) + 1.0
        return (feats / np.linalg.norm(feats, axis=1, keepdims=True)).astype(np.float32)


def face_frames(n: int, seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    """A moving bright blob on a textured background: uint8 [n, h, w, 3] (real motion for the codec)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1).astype(np.float32)
    yy, xx = np.mgrid[:h, :w]
    out = []
    for t in range(n):
        cy, cx = h / 2 + t * 0.7, w / 2 + t
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0)[..., None] * 120
        out.append(np.clip(base + blob, 0, 255).astype(np.uint8))
    return np.stack(out)


def write_images(folder: str, frames: np.ndarray, names: list[str]) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for f, name in zip(frames, names):
        p = os.path.join(folder, name)
        Image.fromarray(f).save(p)
        paths.append(p)
    return paths


def write_video(path: str, frames: np.ndarray, fps: int = 25, codec: str = "mpeg4") -> str:
    import av

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(path, "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def corrupt(path: str) -> None:
    """Overwrite a file with bytes no decoder accepts (keeps the name and extension)."""
    with open(path, "wb") as f:
        f.write(b"\x00not an image or video\x00" * 8)


def build(builder_cls, manual_dir: str, data_dir: str, config_kwargs: dict | None = None, **kwargs):
    """Build with TFDS's own entry point into a tmp data_dir, at size 32 with the fake backbone."""
    from data_pipelines.tf_compat import import_tfds

    tfds = import_tfds()
    config = builder_cls.make_config(size=SIZE, identity_backbone="dlib", **(config_kwargs or {}))
    b = builder_cls(data_dir=data_dir, config=config, backbone=FakeBackbone(), **kwargs)
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return b


def read_split(builder, split: str) -> list[dict]:
    """All examples of a split as numpy dicts (strings decoded)."""
    from data_pipelines.tf_compat import import_tfds

    tfds = import_tfds()
    out = []
    for ex in tfds.as_numpy(builder.as_dataset(split=split)):
        ex = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in ex.items()}
        out.append(ex)
    return out


def check_folds(builder, n_folds: int) -> dict[str, list[dict]]:
    """Every fold split exists; no subject appears in both train@foldK and test@foldK."""
    from data_pipelines.common.folds import resolve_split

    folds = {f"fold{k}": read_split(builder, f"fold{k}") for k in range(n_folds)}
    for k in range(n_folds):
        test = {e["subject"] for e in read_split(builder, resolve_split(f"test@fold{k}", builder.info.splits))}
        train = {e["subject"] for e in read_split(builder, resolve_split(f"train@fold{k}", builder.info.splits))}
        assert test and train and not test & train, (k, test & train)
    return folds


def metadata(builder) -> dict:
    with open(os.path.join(builder.data_dir, "metadata.json")) as f:
        return json.load(f)
