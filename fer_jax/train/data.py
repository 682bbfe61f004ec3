"""Train and eval iterators for the trainer: the tf.data pipeline, or in-memory random data.

``config.input.dataset == "random"`` builds arrays with the batch contract of docs/ARCHITECTURE.md §3
(residuals, motion vectors, I-frame, apex frame, identity embedding, label, identity) and serves them
with :class:`ArrayIterator`. The arrays are not pure noise: each class adds its own fixed pattern to
the residuals and motion vectors, and each identity its own pattern to the I-frame and embedding, so a
model can fit them and a smoke run shows a falling loss. Any other dataset name goes to
``data_pipelines.input_pipeline.make_iterator`` (imported lazily: it imports TensorFlow).
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np

from fer_jax.train.array_iterator import ArrayIterator

RANDOM_DEFAULTS = dict(num_train=64, num_val=32, num_identities=8, identity_dim=16, signal=0.5)


def random_arrays(input_cfg: ml_collections.ConfigDict, num_classes: int, split: str, seed: int) -> dict:
    """Arrays of the batch contract, with class and identity structure (see module docstring)."""
    rcfg = dict(RANDOM_DEFAULTS, **input_cfg.get("random", {}))
    size, k = int(input_cfg.size), int(input_cfg.segments)
    n = int(rcfg["num_train"] if split == input_cfg.get("split_train", "train") else rcfg["num_val"])
    if size % 4:
        raise ValueError(f"input.size must be a multiple of 4 (motion vectors are size/4), got {size}")
    # Class/identity patterns come from `seed` alone so that every split shares them.
    patterns = np.random.default_rng([seed, 0])
    cls_res = patterns.normal(size=(num_classes, size, size, 3)).astype(np.float32)
    cls_mv = patterns.normal(size=(num_classes, size // 4, size // 4, 2)).astype(np.float32)
    n_id, dim = int(rcfg["num_identities"]), int(rcfg["identity_dim"])
    id_img = patterns.uniform(size=(n_id, size, size, 3)).astype(np.float32)
    id_emb = patterns.normal(size=(n_id, dim)).astype(np.float32)
    rng = np.random.default_rng([seed, 1, sum(map(ord, split))])
    label = rng.integers(0, num_classes, n).astype(np.int32)
    identity = rng.integers(0, n_id, n).astype(np.int32)
    s = float(rcfg["signal"])
    noise = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    emb = id_emb[identity] + 0.1 * noise(n, dim)
    return {
        "residuals": s * cls_res[label][:, None] + 0.5 * noise(n, k, size, size, 3),
        "motion_vectors": s * cls_mv[label][:, None] + 0.5 * noise(n, k, size // 4, size // 4, 2),
        "iframe": np.clip(id_img[identity] + 0.05 * noise(n, size, size, 3), 0, 1),
        "apex_frame": np.clip(id_img[identity] + 0.1 * cls_res[label], 0, 1).astype(np.float32),
        "has_apex": np.ones(n, np.float32),
        "identity_embedding": emb / np.linalg.norm(emb, axis=-1, keepdims=True),
        "label": label,
        "identity": identity,
    }


def make_iterator(config: ml_collections.ConfigDict, split: str, *, train: bool, seed: int) -> Any:
    """A per-process, checkpointable iterator over ``split`` (global batch from the config)."""
    icfg = config.input
    batch = int(icfg.batch_size if train else icfg.get("eval_batch_size", icfg.batch_size))
    if icfg.dataset == "random":
        arrays = random_arrays(icfg, int(config.num_classes), split, int(config.seed))
        return ArrayIterator(arrays, batch, seed=seed, process_index=jax.process_index(),
                             process_count=jax.process_count(), train=train)
    from data_pipelines import input_pipeline  # lazy: imports TensorFlow

    return input_pipeline.make_iterator(icfg, split, seed=seed, process_index=jax.process_index(),
                                        process_count=jax.process_count(), train=train)
