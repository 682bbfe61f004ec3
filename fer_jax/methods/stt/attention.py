"""Which frames STT's decision draws on: temporal attention rollout, and its share on the expression.

Choice, and why: STT's CLS token never attends over frames. Each block's spatial attention lets the CLS
read one frame's tokens, its outputs are averaged *uniformly* over frames, and only the frame tokens
attend over time (each spatial position over its T tokens, CLS excluded: ``transformer.FactorisedBlock``).
So the CLS's own attention says nothing about time; what decides how much frame j weighs is how much of
frame j has been mixed into the other frames' tokens by the temporal attentions. We measure that with
**attention rollout** (Abnar & Zuidema, 2020) over the temporal attentions only: per block, the weights
softmax(q·kᵀ/√d) are recomputed from the block's ``time.qkv`` on its normed per-position input
(``SelfAttention.weights``; the production path keeps the fused ``dot_product_attention``), averaged over
heads; the residual path is added as A' = 0.5·I + 0.5·A; blocks compose as R = A'_L ⋯ A'_1, so R[dest, j]
is how much of frame j reaches frame ``dest``. Since the CLS averages frames uniformly, frame j's
importance = mean over spatial positions and destination frames of R[dest, j]: [B, T], rows summing to 1.
It ignores the MLP and the value/output projections (as rollout does), and counts every block's CLS read as
if it came after all L temporal mixings: a summary of where attention sends information, not a gradient
attribution.

The **expression share** of a clip is the importance on the sampled frames whose ground-truth expression
intensity (the sum of the 12 AU intensities of that frame) is at least half the peak over the sampled
frames; under uniform attention it would be the fraction of such frames. Neutral clips (no expression) and
clips without AU labels are left out.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

RESIDUAL_MIX = 0.5  # A' = RESIDUAL_MIX·I + (1 - RESIDUAL_MIX)·A: the residual path around attention
PEAK_FRACTION = 0.5  # a frame is "expressive" at >= this fraction of the clip's peak intensity


def rollout(weights: Sequence[jax.Array]) -> jax.Array:
    """Per-block temporal weights [B, N, heads, T, T] (query, key), first block first -> R [B, N, T, T]
    = A'_L ⋯ A'_1 with A' = the head mean mixed with the identity (module docstring); rows sum to 1."""
    if not weights:
        raise ValueError("rollout needs the weights of at least one block")
    t = weights[0].shape[-1]
    eye = jnp.eye(t, dtype=jnp.float32)
    r = None
    for w in weights:
        a = RESIDUAL_MIX * eye + (1.0 - RESIDUAL_MIX) * jnp.mean(jnp.asarray(w, jnp.float32), axis=2)
        r = a if r is None else a @ r
    return r


def frame_importance(weights: Sequence[jax.Array]) -> jax.Array:
    """[B, T]: each frame's share of what reaches the uniformly frame-averaged CLS (rows sum to 1)."""
    return jnp.mean(rollout(weights), axis=(1, 2))


def importance_fn(net: nnx.Module):
    """Jitted ``frames [B, T, S, S, 3] -> (logits [B, C], importance [B, T])`` of an RGB STT network."""
    graphdef, state = nnx.split(net)

    @jax.jit
    def fn(state, frames):
        weights: list = []
        logits, _ = nnx.merge(graphdef, state)(frames=frames, temporal_weights=weights)
        return logits, frame_importance(weights)

    return lambda frames: fn(state, frames)


def collect(workdir: str, config: Any, split: str = "test", checkpoint: str = "best") -> dict[str, np.ndarray]:
    """Restore an RGB STT run and run ``split`` (evaluation sampling: the frames the model is evaluated
    on) -> per clip ``importance`` [C, T], ``intensity`` [C, T] (AU sum of exactly those frames, -1 where
    unlabelled), ``frame_index`` [C, T], ``label``, ``pred``."""
    from fer_jax.core.data import make_iterator
    from fer_jax.core.method import Feature
    from fer_jax.core.workdir import restore

    restored = restore(workdir, checkpoint, config)
    run, method = restored.run, restored.method
    net = method.predictor(restored.state)
    if getattr(net, "tokens", None) != "frames":
        raise ValueError("the attention share needs an STT run on decoded frames (model.tokens = 'frames')")
    spec = dict(method.input_spec(run))
    t = spec["frames"].shape[0]
    spec.update(au_intensity=Feature((t, 12), role="target"), frame_index=Feature((t,), "int32", "index"))
    fn = importance_fn(net)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in make_iterator(run, split, train=False, seed=run.train.seed, spec=spec):
        logits, imp = fn(jnp.asarray(batch["frames"]))
        au = np.asarray(batch["au_intensity"])
        row = {"importance": np.asarray(imp), "pred": np.asarray(logits).argmax(-1),
               "intensity": np.where((au < 0).any(-1), -1.0, au.sum(-1)),
               "frame_index": batch["frame_index"], "label": batch["label"], "mask": batch["mask"]}
        for k, v in row.items():
            parts.setdefault(k, []).append(np.asarray(v))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    keep = out.pop("mask") > 0
    return {k: v[keep] for k, v in out.items()}


def expression_share(importance: np.ndarray, intensity: np.ndarray, label: np.ndarray,
                     neutral: int | None = 0) -> dict[str, Any]:
    """Per clip: importance on its expressive frames (``share``) and that under uniform attention
    (``uniform``), over the clips with an expression (label != ``neutral``) and AU labels; plus their
    mean ± sd and how many clips put more than uniform weight there."""
    importance, intensity = np.asarray(importance, np.float64), np.asarray(intensity, np.float64)
    peak = intensity.max(axis=1)
    keep = (np.asarray(label) != (-1 if neutral is None else neutral)) & (intensity >= 0).all(axis=1) & (peak > 0)
    expressive = intensity[keep] >= PEAK_FRACTION * peak[keep, None]
    share = (importance[keep] * expressive).sum(axis=1)
    uniform = expressive.mean(axis=1)

    def stats(x: np.ndarray) -> tuple[float | None, float | None]:
        return (float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0) if len(x) else (None, None)

    out: dict[str, Any] = {"clips": int(keep.sum()), "clips_left_out": int((~keep).sum()),
                           "clips_above_uniform": int((share > uniform + 1e-9).sum())}
    for name, x in (("share", share), ("uniform", uniform), ("excess", share - uniform)):
        out[f"{name}_mean"], out[f"{name}_sd"] = stats(x)
    out["per_clip"] = {"share": share.tolist(), "uniform": uniform.tolist(), "index": np.flatnonzero(keep).tolist()}
    return out
