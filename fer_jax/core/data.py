"""Train and eval iterators for the trainer: the tf.data pipeline, or in-memory random data.

``config.input`` arrives parsed, as the run's ``InputSettings`` (``RunSettings.input``; defaults in
``data_pipelines.settings``). ``dataset == "random"`` builds the batch keys of the method's
``input_spec`` (``Feature`` roles, see ``fer_jax.core.method``) in memory and serves them with
:class:`ArrayIterator`. The arrays are not pure noise: every class has a fixed pattern in each
``signal`` key and fixed values in each ``target`` key, every identity a fixed pattern in each
``identity_signal`` key and a unit vector in each ``embedding`` key, so a model can fit them and a smoke
run shows a falling loss. Without a spec the compressed-domain keys of ARCHITECTURE §3 are built. Any
other dataset goes to ``data_pipelines.input_pipeline`` (imported lazily: it imports TensorFlow).
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping

import jax
import numpy as np

from data_pipelines.settings import InputSettings, validate_input
from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.core.method import Feature
from fer_jax.core.settings import RunSettings


def compressed_spec(settings: InputSettings) -> dict[str, Feature]:
    """The compressed-domain keys served when no method spec is given."""
    s, k, dim = settings.size, settings.segments, settings.random.identity_dim
    return {"residuals": Feature((k, s, s, 3)), "motion_vectors": Feature((k, s // 4, s // 4, 2)),
            "iframe": Feature((s, s, 3), role="identity_signal"),
            "apex_frame": Feature((s, s, 3), role="identity_signal"), "has_apex": Feature((), role="weight"),
            "identity_embedding": Feature((dim,), role="embedding"), "label": Feature((), "int32", "label"),
            "identity": Feature((), "int32", "identity")}


def random_arrays(settings: InputSettings | Mapping[str, Any], num_classes: int, split: str, seed: int,
                  spec: Mapping[str, Feature] | None = None) -> dict[str, np.ndarray]:
    """One split of the ``random`` dataset: the keys of ``spec`` with class and identity structure.

    Patterns depend on ``seed`` and the key alone, so every split (and any spec naming the key) shares
    them; examples' classes, identities and noise depend on the split too.
    """
    settings = validate_input(settings)
    spec = compressed_spec(settings) if spec is None else spec
    r = settings.random
    n = r.num_train if split == settings.split_train else r.num_val
    n_cls, n_id = max(int(num_classes), 1), int(r.num_identities)
    rng = np.random.default_rng([seed, 1, sum(map(ord, split))])
    label = rng.integers(0, n_cls, n).astype(np.int32)
    identity = rng.integers(0, n_id, n).astype(np.int32)
    masks = {}
    out = {}
    for key in sorted(spec, key=lambda k: (spec[k].role == "target", k)):  # masks before their targets
        f = spec[key]
        shape = tuple(int(d) for d in f.shape)
        pat = np.random.default_rng([seed, 0, zlib.crc32(key.encode())])
        kng = np.random.default_rng([seed, 2, sum(map(ord, split)), zlib.crc32(key.encode())])

        def noise(kng=kng, shape=shape):
            return kng.normal(size=(n, *shape)).astype(np.float32)

        if f.role == "label":
            x = label
        elif f.role == "identity":
            x = identity
        elif f.role == "signal":
            x = r.signal * pat.normal(size=(n_cls, *shape)).astype(np.float32)[label] + 0.5 * noise()
        elif f.role == "identity_signal":
            x = np.clip(pat.uniform(size=(n_id, *shape)).astype(np.float32)[identity] + 0.05 * noise(), 0, 1)
        elif f.role == "embedding":
            x = pat.normal(size=(n_id, *shape)).astype(np.float32)[identity] + 0.1 * noise()
            x = x / np.linalg.norm(x, axis=-1, keepdims=True)
        elif f.role == "target":  # e.g. AU intensities in [0, 5], a function of the class
            x = np.clip(pat.uniform(0, 5, size=(n_cls, *shape)).astype(np.float32)[label] + 0.1 * noise(), 0, 5)
            mask = masks.get(shape)
            x = x if mask is None else np.where(mask > 0, x, -1.0)  # uncoded: -1, as the data path writes
        elif f.role == "target_mask":  # mostly labelled, a few uncoded entries
            x = (kng.uniform(size=(n, *shape)) > 0.1).astype(np.float32)
            masks[shape] = x
        elif f.role == "index":  # clip_key: a distinct id per example; frame_index: 0..T-1
            ids = np.arange(n) + 100_000 * (sum(map(ord, split)) % 97)
            x = ids if not shape else np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), (n, *shape))
        else:  # weight
            x = np.ones((n, *shape), np.float32)
        out[key] = np.asarray(x, dtype=f.dtype)
    return out


def make_iterator(run: RunSettings, split: str, *, train: bool, seed: int,
                  spec: Mapping[str, Feature] | None = None) -> Any:
    """A per-process, checkpointable iterator over ``split`` (global batch from ``run.input``) holding the
    keys of ``spec`` (``method.input_spec(run)``; None: the compressed-domain keys)."""
    settings = run.input
    batch = settings.global_batch(train)
    if settings.dataset == "random":
        arrays = random_arrays(settings, run.train.num_classes or 1, split, run.train.seed, spec)
        return ArrayIterator(arrays, batch, seed=seed, process_index=jax.process_index(),
                             process_count=jax.process_count(), train=train)
    from data_pipelines import input_pipeline  # lazy: imports TensorFlow

    return input_pipeline.make_iterator(settings, split, seed=seed, process_index=jax.process_index(),
                                        process_count=jax.process_count(), train=train, spec=spec)
