"""A tiny dataset in the shared video feature spec whose tensors encode where they came from.

Used to test the input pipeline without running extraction: example ``n`` (subject ``s{n:03d}``,
label ``n % 3``) has ``n % 3 + 1`` GOPs of which the last is short, and its tensors say which clip
and which P-frame a batch row shows:
  residuals[..., 0] = n (clip number), residuals[..., 1] = flat P-frame index g*P + p,
  motion_vectors[..., 0] = 1 + column (x varies across the frame), motion_vectors[..., 1] = 0.5.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.common.builder import FerBuilder
from data_pipelines.tf_compat import import_tfds

tfds = import_tfds()

SIZE, GOP = 16, 4
P = GOP - 1


def toy_example(n: int, dim: int = 8) -> dict:
    g = n % 3 + 1
    valid = [P] * (g - 1) + [1 + n % P]  # the last GOP is short
    ft = np.zeros((g, GOP), np.uint8)
    res = np.zeros((g, P, SIZE, SIZE, 3), np.int16)
    mv = np.zeros((g, P, SIZE // 4, SIZE // 4, 2), np.float16)
    for gi, v in enumerate(valid):
        ft[gi, 0], ft[gi, 1:1 + v] = 1, 2
        for p in range(v):
            res[gi, p, ..., 0], res[gi, p, ..., 1] = n, gi * P + p
    mv[..., 0] = 1 + np.arange(SIZE // 4)[None, None, None, :]
    mv[..., 1] = 0.5
    iframes = np.zeros((g, SIZE, SIZE, 3), np.uint8)
    iframes[..., 0] = n
    iframes[..., 1] = np.arange(g)[:, None, None]
    iframes[:, :, : SIZE // 2, 2] = 255  # left half bright: shows a flip
    emb = np.zeros(dim, np.float32)
    emb[n % dim] = 1.0
    apex = (g - 1) * GOP + valid[-1] if n % 2 else -1  # odd clips: apex = the last frame
    return {"iframes": iframes, "motion_vectors": mv, "residuals": res.reshape(-1, SIZE, SIZE, 3),
            "frame_types": ft, "label": n % 3, "subject": f"s{n:03d}", "clip_id": f"c{n:03d}",
            "apex_index": apex, "apex_frame": iframes[-1], "au_intensity": np.zeros((0, 12), np.float32),
            "identity_embedding": emb}


class _Ident:
    name, dim = "toy-8", 8

    def embed(self, images):
        raise AssertionError("the toy dataset has no images to embed")


class ToyClips(FerBuilder):
    """Toy clips for input-pipeline tests (see module docstring)."""

    name = "toy_clips"
    LABELS = ("a", "b", "c")
    N = {"train": 22, "val": 13}
    MANUAL_DOWNLOAD_INSTRUCTIONS = None

    def __init__(self, **kwargs):
        super().__init__(backbone=_Ident(), **kwargs)

    def _split_generators(self, dl_manager):
        self.record_subjects({k: [type("S", (), {"subject": f"s{n:03d}"}) for n in self._range(k)] for k in self.N})
        return {k: self._generate_examples(k) for k in self.N}

    def _range(self, split):
        return range(self.N[split]) if split == "train" else range(100, 100 + self.N[split])

    def _generate_examples(self, split):
        for n in self._range(split):
            yield f"c{n:03d}", toy_example(n)

    def _list_sources(self, manual_dir):
        raise NotImplementedError


def build_toy(data_dir: str):
    b = ToyClips(data_dir=data_dir, config=ToyClips.make_config(size=SIZE, gop=GOP, identity_backbone="dlib"))
    b.download_and_prepare()
    return b


def input_cfg(data_dir: str, **kw) -> dict:
    cfg = dict(dataset="toy_clips", data_dir=data_dir, identity_backbone="dlib", size=SIZE, gop=GOP,
               mode="accumulate", batch_size=4, eval_batch_size=4, segments=3, segment_mode="tsn",
               shuffle_buffer=64, augment=False, cache=False)
    cfg.update(kw)
    return cfg
