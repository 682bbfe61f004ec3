"""``rgb_baseline``: the decoded-image video classifier that the compressed path is measured against.

What users run today on video: decode frames to RGB, resize, run a 2-D CNN on every frame, average the
per-frame features over time, classify linearly. The trunk is the *same* ResNet (arch, width, stem,
compute dtype: ``model.*`` as in MI-FER) as MI-FER's residual encoder, so speed and accuracy comparisons
differ only in the input representation.

Batch: ``frames`` float32 [B, T, S, S, 3] (RGB / 255) and ``label`` int32 [B] (+ optional ``mask``).
The tf.data pipeline carries no decoded frame sequences (its contract is the compressed clip), so this
method is trained from in-memory arrays through ``fer_jax.train.ArrayIterator``: decode the sampled
frames of each clip once, keep them as numpy (fine for benchmark-sized sets; see
``benchmarks/bench_inference.py``).

Choices, and why:

* **Mean over frames, then one linear head** (no projection): the simplest temporal model, the usual
  "per-frame CNN + average" baseline; ``features`` are the pooled trunk features.
* **One optimizer** (``optim.*``, as MI-FER's encoder optimizer), no identity or MI terms.
* **Non-finite guard** as in MI-FER: an update is applied only if the loss and all gradients are finite.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from fer_jax.models import make_resnet
from fer_jax.train.method import Feature, MethodBase, ServingSpec
from fer_jax.train.method import config_get as _get
from fer_jax.train.optim import make_tx

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class FrameAverageClassifier(nnx.Module):
    """frames [B, T, S, S, 3] -> (logits [B, C] float32, features [B, D] float32)."""

    def __init__(self, num_classes: int, arch: str = "resnet18", width: int | None = None,
                 stem: str = "imagenet", *, dtype=jnp.float32, rngs: nnx.Rngs):
        self.trunk = make_resnet(arch, 3, width, stem, dtype=dtype, rngs=rngs)
        self.head = nnx.Linear(self.trunk.out_dim, num_classes, rngs=rngs)

    def __call__(self, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
        b, t = frames.shape[:2]
        feats = self.trunk(frames.reshape((b * t,) + frames.shape[2:]))
        pooled = feats.reshape(b, t, -1).mean(axis=1).astype(jnp.float32)
        return self.head(pooled).astype(jnp.float32), pooled


class RgbBaselineState(nnx.Module):
    """The classifier and its optimizer, as one NNX graph."""

    def __init__(self, config: ml_collections.ConfigDict, rngs: nnx.Rngs):
        dtype_name = str(_get(config, "model.dtype", "float32"))
        if dtype_name not in _DTYPES:
            raise ValueError(f"model.dtype must be one of {sorted(_DTYPES)}, got {dtype_name!r}")
        self.net = FrameAverageClassifier(
            int(_get(config, "num_classes", 7)), str(_get(config, "model.encoder", "resnet18")),
            _get(config, "model.width", None), str(_get(config, "model.stem", "imagenet")),
            dtype=_DTYPES[dtype_name], rngs=rngs)
        optim = _get(config, "optim", None) or ml_collections.ConfigDict(
            dict(name="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", warmup_steps=0))
        self.opt = nnx.Optimizer(self.net, make_tx(optim, int(_get(config, "total_steps", 1000))), wrt=nnx.Param)


def _mask(batch: dict) -> jax.Array:
    return batch["mask"].astype(jnp.float32) if "mask" in batch else jnp.ones(batch["label"].shape[0], jnp.float32)


def _loss(net: FrameAverageClassifier, batch: dict):
    logits, _ = net(batch["frames"])
    mask = _mask(batch)
    n = jnp.maximum(mask.sum(), 1.0)
    ce = jnp.sum(mask * optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])) / n
    acc = jnp.sum(mask * (logits.argmax(-1) == batch["label"])) / n
    return ce, {"loss/ce": ce, "accuracy": acc}


class RgbBaseline(MethodBase):
    """The ``rgb_baseline`` Method (see ``fer_jax.train.method.Method``)."""

    name = "rgb_baseline"
    evaluators = ("classification",)

    def input_spec(self, config: ml_collections.ConfigDict) -> dict[str, Feature]:
        s, t = int(config.input.size), int(config.input.frames)
        return {"frames": Feature((t, s, s, 3)), "label": Feature((), "int32", "label")}

    def serving_spec(self, config: ml_collections.ConfigDict) -> ServingSpec:
        s, t = int(config.input.size), int(config.input.frames)
        return ServingSpec({"frames": Feature((t, s, s, 3))}, "frames", "probabilities",
                           tuple(config.get("class_names") or ()), {"size": s, "frames": t})

    def serve(self, predictor: FrameAverageClassifier, inputs: dict) -> jax.Array:
        logits, _ = predictor(inputs["frames"])
        return jax.nn.softmax(logits, axis=-1)

    def create(self, config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> RgbBaselineState:
        return RgbBaselineState(config, rngs)

    def train_step(self, state: RgbBaselineState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        (loss, aux), grads = nnx.value_and_grad(_loss, has_aux=True)(state.net, batch)
        ok = jnp.isfinite(loss)
        for g in jax.tree.leaves(grads):
            ok &= jnp.all(jnp.isfinite(g))
        old_params = nnx.as_pure(nnx.state(state.net, nnx.Param))
        old_opt = nnx.as_pure(nnx.state(state.opt))
        state.opt.update(state.net, grads)
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        nnx.update(state.net, jax.tree.map(keep, nnx.as_pure(nnx.state(state.net, nnx.Param)), old_params))
        nnx.update(state.opt, jax.tree.map(keep, nnx.as_pure(nnx.state(state.opt)), old_opt))
        return {"loss/total": loss, **aux}

    def eval_step(self, state: RgbBaselineState, batch: dict) -> dict[str, jax.Array]:
        logits, feats = state.net(batch["frames"])
        return {"logits": logits, "features": feats}

    def predictor(self, state: RgbBaselineState) -> FrameAverageClassifier:
        return state.net
