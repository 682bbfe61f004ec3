"""SynthFace stills in memory: the apex frame of a lab-regime clip per (identity, expression).

What a GAN or an inversion encoder trains on when no TFDS build is wanted (tests, CPU benchmarks): the
same pixels a SynthFace build stores as ``apex_frame`` for those clips, without encoding any video.
Numpy only (no TensorFlow, no PyAV); served by ``fer_jax.core.array_iterator.ArrayIterator``.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.synthface.clip import render_clip
from data_pipelines.synthface.facs import EXPRESSIONS


def render_stills(identities: int, size: int = 64, seed: int = 0, *, start: int = 0, frames: int = 8,
                  head_motion: float = 0.0) -> dict[str, np.ndarray]:
    """``identities`` people (indices ``start`` ..) × the 7 expressions at their apex:
    ``image`` uint8 [N, S, S, 3], ``label`` and ``identity`` int32 [N], N = 7 · identities."""
    if identities < 1:
        raise ValueError(f"identities must be >= 1, got {identities}")
    images, labels, ids = [], [], []
    for person in range(start, start + identities):
        for label in range(len(EXPRESSIONS)):
            clip, info = render_clip(person, label, "lab", n_frames=frames, size=size, seed=seed,
                                     head_motion=head_motion)
            images.append(clip[info["apex_index"]])
            labels.append(label)
            ids.append(person)
    return {"image": np.stack(images), "label": np.asarray(labels, np.int32), "identity": np.asarray(ids, np.int32)}
