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
* **Non-finite guard** (``fer_jax.train.optim.guarded_update``, shared with MI-FER): an update is
  applied only if the loss and all gradients are finite.

Settings: ``model`` (:class:`ModelSettings`) and ``optim`` (``OptimSettings``); their dataclasses hold
the only defaults, equal to MI-FER's trunk and encoder optimizer.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase, ServingSpec
from fer_jax.core.settings import ConfigError, RunSettings
from fer_jax.methods.mi_fer.settings import ModelSettings as MiFerModel
from fer_jax.models import make_resnet
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """``config.model``: the per-frame trunk (``encoder`` arch, ``width`` of its first stage, None = the
    arch's own, ``stem``) and the compute ``dtype``; defaults taken from MI-FER's residual trunk, which
    this baseline is compared against."""

    encoder: str = MiFerModel.encoder
    width: int | None = MiFerModel.width
    stem: str = MiFerModel.stem
    dtype: str = MiFerModel.dtype

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.stem not in ("imagenet", "small"):
            raise ConfigError(f"model.stem must be 'imagenet' or 'small', got {self.stem!r}")


SETTINGS = {"model": ModelSettings, "optim": OptimSettings}


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

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        m, optim = run.sections["model"], run.sections["optim"]
        self.net = FrameAverageClassifier(run.train.num_classes, m.encoder, m.width, m.stem,
                                          dtype=DTYPES[m.dtype], rngs=rngs)
        self.opt = nnx.Optimizer(self.net, make_tx(optim, run.train.total_steps), wrt=nnx.Param)


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
    """The ``rgb_baseline`` Method (see ``fer_jax.core.method.Method``)."""

    name = "rgb_baseline"
    settings = SETTINGS
    evaluators = ("classification",)

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        s, t = run.input.size, run.input.num_frames
        return {"frames": Feature((t, s, s, 3)), "label": Feature((), "int32", "label")}

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        """The frames as training evaluated them: runs of ``frames_per_segment`` at segment centres (the
        STT comparison's 8 × 2), so ``predict`` feeds the baseline what it learned on."""
        inp = run.input
        s = inp.size
        return ServingSpec({"frames": Feature((inp.num_frames, s, s, 3))}, "frames", "probabilities",
                           run.train.class_names,
                           {"size": s, "frames": inp.num_frames, "frames_per_segment": inp.frames_per_segment})

    def serve(self, predictor: FrameAverageClassifier, inputs: dict) -> jax.Array:
        logits, _ = predictor(inputs["frames"])
        return jax.nn.softmax(logits, axis=-1)

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> RgbBaselineState:
        return RgbBaselineState(run, rngs)

    def train_step(self, state: RgbBaselineState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        (loss, aux), grads = nnx.value_and_grad(_loss, has_aux=True)(state.net, batch)
        guarded_update(state.net, state.opt, loss, grads)
        return {"loss/total": loss, **aux}

    def eval_step(self, state: RgbBaselineState, batch: dict) -> dict[str, jax.Array]:
        logits, feats = state.net(batch["frames"])
        return {"logits": logits, "features": feats}

    def predictor(self, state: RgbBaselineState) -> FrameAverageClassifier:
        return state.net
