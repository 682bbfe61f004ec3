"""The one feature spec every fer-jax video builder writes (docs/ARCHITECTURE.md §3), and the
still-image spec of RAF-DB / SFEW / AffectNet.

Large tensors are zlib-compressed inside the TFRecords: residuals are mostly near zero and the MV
fields smooth, so this cuts disk and read bandwidth several-fold (about 30x for residuals).

Residuals are stored as a sequence of G*P separately compressed frames in time order (flat index
g*P + p), not one [G, P, S, S, 3] block: training shows K of the G*P P-frames, and decoding only those
(``tfds.decode.SkipDecoding`` + the feature's own ``decode_example``) makes reading ~G*P/K times
cheaper -- residual inflation dominated the pipeline's cost. Read fully, ``residuals`` is
[G*P, S, S, 3] int16; reshape to [G, P, S, S, 3] with ``frame_types``.

Decoded frames (``frames``, only in builds made with ``--store-frames``) are stored the same way, as a
sequence of T separately JPEG-encoded RGB frames [T, S, S, 3] uint8 in time order (frame t of the clip,
the numbering of ``au_intensity`` and ``apex_index``). Choice: JPEG (TFDS default quality 95) because
frame-based methods read T of the clip's frames every step and the sources (DFEW, AFEW, CK+ crops) are
JPEG or lossy video already; it is ~5x smaller than PNG at 112 px, and per-frame encoding lets the
pipeline decode only the sampled frames (``SkipDecoding``, as for residuals).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data_pipelines.tf_compat import import_tfds


def video_features(*, size: int, gop: int, label_names: Sequence[str], num_aus: int, identity_dim: int,
                   store_frames: bool = False):
    tfds = import_tfds()
    f = tfds.features
    p, m = gop - 1, size // 4
    extra = {"frames": f.Sequence(f.Image(shape=(size, size, 3), encoding_format="jpeg"))} if store_frames else {}
    return f.FeaturesDict({
        **extra,
        "iframes": f.Tensor(shape=(None, size, size, 3), dtype=np.uint8, encoding="zlib"),
        "motion_vectors": f.Tensor(shape=(None, p, m, m, 2), dtype=np.float16, encoding="zlib"),
        "residuals": f.Sequence(f.Tensor(shape=(size, size, 3), dtype=np.int16, encoding="zlib")),
        "frame_types": f.Tensor(shape=(None, gop), dtype=np.uint8),
        "label": f.ClassLabel(names=list(label_names)),
        "subject": f.Text(),
        "clip_id": f.Text(),
        "apex_index": f.Scalar(dtype=np.int64, doc="apex frame index in the clip, -1 if not annotated"),
        "apex_frame": f.Tensor(shape=(size, size, 3), dtype=np.uint8, encoding="zlib"),
        "au_intensity": f.Tensor(shape=(None, num_aus), dtype=np.float32),
        "identity_embedding": f.Tensor(shape=(identity_dim,), dtype=np.float32),
    })


def image_features(*, size: int, label_names: Sequence[str], identity_dim: int):
    tfds = import_tfds()
    f = tfds.features
    return f.FeaturesDict({
        "image": f.Image(shape=(size, size, 3), encoding_format="png"),
        "label": f.ClassLabel(names=list(label_names)),
        "subject": f.Text(),
        "clip_id": f.Text(),
        "identity_embedding": f.Tensor(shape=(identity_dim,), dtype=np.float32),
    })
