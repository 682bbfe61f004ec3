"""Loading a trained workdir for inference, and turning one extracted clip into model inputs.

Shared by ``fer-jax predict``, ``fer-jax export`` and the inference benchmark. Only numpy and JAX:
the clip arrays come from ``data_pipelines.compressed`` (PyAV), which callers import themselves.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from flax import nnx

from fer_jax.train.workdir import Restored, restore  # noqa: F401  (restore: used by predict and export)

P_FRAME = 2  # frame_types value of a P-frame (see data_pipelines.compressed)


def segment_positions(n: int, k: int) -> np.ndarray:
    """Evaluation-time TSN: the centre of each of K equal segments of ``n`` frames (as in training)."""
    start = np.floor(np.arange(k) * n / k).astype(np.int64)
    stop = np.floor(np.arange(1, k + 1) * n / k).astype(np.int64)
    return np.minimum(start + np.maximum(stop - start, 1) // 2, max(n - 1, 0))


def clip_inputs(frame_types: np.ndarray, residuals: np.ndarray, motion_vectors: np.ndarray, k: int
                ) -> dict[str, np.ndarray]:
    """One clip's stored arrays -> the model's inputs over the whole clip: K evaluation segments.

    ``residuals`` [G, P, S, S, 3] int16, ``motion_vectors`` [G, P, S/4, S/4, 2] -> float32
    ``residuals`` [K, S, S, 3] (/255) and ``motion_vectors`` [K, S/4, S/4, 2]. A clip with no P-frame
    (a single frame) shows its first slot, all zeros: no motion, no residual.
    """
    valid = np.flatnonzero(frame_types[:, 1:].reshape(-1) == P_FRAME)
    if valid.size == 0:
        valid = np.zeros(1, np.int64)
    pick = valid[segment_positions(valid.size, k)]
    res = residuals.reshape((-1,) + residuals.shape[2:])[pick]
    mv = motion_vectors.reshape((-1,) + motion_vectors.shape[2:])[pick]
    return {"residuals": res.astype(np.float32) / 255.0, "motion_vectors": mv.astype(np.float32)}


def gop_inputs(frame_types: np.ndarray, residuals: np.ndarray, motion_vectors: np.ndarray, k: int
               ) -> dict[str, np.ndarray]:
    """Per-GOP inputs for a timeline: [G, K, ...], K segments within each GOP's own P-frames."""
    per = [clip_inputs(frame_types[g:g + 1], residuals[g:g + 1], motion_vectors[g:g + 1], k)
           for g in range(frame_types.shape[0])]
    return {key: np.stack([p[key] for p in per]) for key in per[0]}


def probabilities_fn(restored: Restored) -> tuple[Any, Callable]:
    """``(params, f)`` with ``f(params, residuals, motion_vectors) -> probabilities`` of the residual-only
    predictor; shared by ``make_predict_fn`` (params as an argument) and ``fer-jax export`` (baked in)."""
    predictor = restored.method.predictor(restored.state)
    graphdef, params = nnx.split(predictor)
    uses_mv = bool(getattr(getattr(predictor, "encoder", None), "use_mv", False))

    def probs(params, residuals, motion_vectors):
        logits, _ = nnx.merge(graphdef, params)(residuals, motion_vectors if uses_mv else None)
        return jax.nn.softmax(logits, axis=-1)

    return params, probs


def make_predict_fn(restored: Restored) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A jitted ``inputs [B, K, ...] -> class probabilities [B, C]`` of the residual-only predictor."""
    params, probs = probabilities_fn(restored)
    probs = jax.jit(probs)
    return lambda inputs: np.asarray(probs(params, inputs["residuals"], inputs["motion_vectors"]))
