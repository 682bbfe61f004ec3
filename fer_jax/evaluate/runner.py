"""Evaluation over a whole split: used by the trainer's eval hook, ``fer-jax eval`` and the demo.

``collect`` runs ``method.eval_step`` (jitted over the ``data`` mesh) on every batch of a one-pass
eval iterator and gathers the per-example outputs to the host on every process. Labels, identities
and the padding ``mask`` travel through the same jitted call, so they come back in the same global
order as the logits, whatever the process count. Padding rows (``mask == 0``) are dropped.

``evaluate(config, workdir, split, checkpoint)`` rebuilds the method from ``workdir/config.json``'s
config, restores the best (or latest) checkpoint and returns the classification report plus the
per-example ``features``, ``identity``, ``label`` and ``pred`` arrays the identity audit needs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import jax
import ml_collections
import numpy as np
from flax import nnx

from fer_jax.parallel import make_mesh, replicated, shard_batch, to_host

# Batch keys copied through the eval step next to the method's outputs (when the batch has them).
PASSTHROUGH = ("label", "identity", "mask")


def make_eval_fn(method: Any, graphdef: nnx.GraphDef) -> Callable:
    """Jitted ``(state, batch) -> per-example outputs`` of ``method.eval_step`` plus PASSTHROUGH keys."""

    def eval_fn(state, batch):
        out = dict(method.eval_step(nnx.merge(graphdef, state), batch))
        out.update({k: batch[k] for k in PASSTHROUGH if k in batch})
        return out

    return jax.jit(eval_fn)


def collect(eval_fn: Callable, state: nnx.State, batches: Iterable[dict], mesh: jax.sharding.Mesh
            ) -> dict[str, np.ndarray]:
    """Per-example eval outputs of a whole split as numpy arrays, padding rows removed."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        batch = dict(batch)
        batch.setdefault("mask", np.ones(len(batch["label"]), np.float32))
        out = to_host(eval_fn(state, shard_batch(batch, mesh)))
        for k, v in out.items():
            if np.ndim(v) >= 1:  # per-example outputs only; scalars from eval_step are ignored
                parts.setdefault(k, []).append(np.asarray(v))
    if not parts:
        raise ValueError("the eval iterator yielded no batches")
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    keep = arrays.pop("mask") > 0
    return {k: v[keep] for k, v in arrays.items()}


def report(arrays: dict[str, np.ndarray], config: ml_collections.ConfigDict) -> dict[str, Any]:
    """WAR/UAR/per-class recall/confusion of gathered eval outputs (adds ``pred`` to ``arrays``)."""
    from fer_jax.evaluate.metrics import classification_report

    arrays["pred"] = np.argmax(arrays["logits"], axis=-1).astype(np.int32)
    names = config.get("class_names")
    out = classification_report(arrays["label"], arrays["pred"], int(config.num_classes),
                                class_names=list(names) if names else None)
    out["num_examples"] = int(len(arrays["label"]))
    for key, value in arrays.items():  # e.g. mi/club_per_example -> mi/club (mean over the split)
        if key.endswith("_per_example") and value.ndim == 1:
            out[key[: -len("_per_example")]] = float(np.mean(value))
    return out


def evaluate(config: ml_collections.ConfigDict, workdir: str, split: str | None = None,
             checkpoint: str = "best") -> dict[str, Any]:
    """Classification report of a trained ``workdir`` on ``split`` + per-example arrays.

    Returns the report's keys (``war``, ``uar``, ``per_class_recall``, ``confusion``, ...) plus
    ``step`` (the checkpoint's), ``features``, ``identity`` (when the data has it), ``label`` and
    ``pred``. ``checkpoint="best"`` falls back to the latest when no best checkpoint exists.
    """
    split = split or config.input.split_val
    return evaluate_splits(config, workdir, (split,), checkpoint)[split]


def evaluate_splits(config: ml_collections.ConfigDict, workdir: str, splits: Sequence[str],
                    checkpoint: str = "best") -> dict[str, dict[str, Any]]:
    """``evaluate`` on several splits from one restore and one compiled eval step: {split: result}."""
    from fer_jax.inference import restore
    from fer_jax.train.data import make_iterator

    mesh = make_mesh()
    restored = restore(workdir, checkpoint, config)
    method, step, which = restored.method, restored.step, restored.checkpoint
    graphdef, state = nnx.split(restored.state)
    state = jax.device_put(state, replicated(mesh))
    eval_fn = make_eval_fn(method, graphdef)
    results = {}
    for split in splits:
        arrays = collect(eval_fn, state, make_iterator(config, split, train=False, seed=int(config.seed)), mesh)
        result = report(arrays, config)
        result.update(step=step, split=split, checkpoint=which, **arrays)
        results[split] = result
    return results
