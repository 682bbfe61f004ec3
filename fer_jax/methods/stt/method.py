"""The STT method: spatio-temporal transformer for in-the-wild dynamic FER, with the compact softmax CE.

One train step: forward the clip (``model.py``), CE + λ · compactness, one guarded optimizer update,
then the class centres move by EMA. Settings and defaults: ``settings.py``; measurements: ``README.md``.

Choices, and why (docs/methods.md §2 fixes the loss's form, not these details):

* **Compactness = intra / (inter + ε) of squared distances**, intra = mean over the batch's rows of
  ‖f − c_y‖², inter = mean over pairs of classes seen so far of ‖c_j − c_k‖². A ratio, not center loss's
  bare intra term: it asks for classes tight *relative to* their separation, the quantity the
  ``embedding`` evaluator reports (``ratio_sq``). The ratio alone does *not* protect the scale: the EMA
  centres lag the features, so shrinking every feature lowers intra at once and inter only slowly, and
  before the classes separate that is the cheapest way down (the collapse the gate below prevents).
* **Centres** (``Centres`` variables [C, D], float32, checkpointed with the state, never optimised):
  the centres used in a step are this step's EMA update, c'_k = m·c_k + (1 − m)·mean_k(batch) for the
  classes in the batch (the batch mean alone for a class seen for the first time), so gradients reach
  the features both through ‖f − c'_y‖² and, scaled by 1 − m, through the separation of the centres.
  After the update c ← stop_gradient(c'); a step rejected by the non-finite guard moves no centre.
  Fewer than two classes seen -> the term is 0 (inter undefined).
* **λ gate** (``compact.gate``, ``compact.ramp``; ``CompactSettings``): 0 until an EMA of the batch CE
  (started at ln C, carried in the state) falls below ``gate`` · ln C, then a linear ramp; the step it
  switched on is state too, so resume and 1 device = N devices keep it exact.
* **Plain CE ablation** = ``compact.weight = 0`` (``:ce`` variant); centres are still tracked so both
  runs log ``loss/compact``.
* **Randomness**: dropout keys are ``step_rngs(seed, step, "dropout")`` (``fer_jax.train.rng``), so
  resume is exact and 1 device = N devices.
* **Serving**: the RGB model serves decoded frames (``input_group="frames"``), the compressed-token model
  the compressed group's I-frame + K accumulated residuals (``fer_jax.serving.prepare``).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase, ServingSpec
from fer_jax.core.settings import RunSettings
from fer_jax.methods.stt.model import SpatioTemporalTransformer
from fer_jax.methods.stt.settings import DTYPES, CompactSettings, ModelSettings
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx
from fer_jax.train.rng import step_rngs

SETTINGS = {"model": ModelSettings, "compact": CompactSettings, "optim": OptimSettings}


def clip_length(run: RunSettings, tokens: str) -> int:
    """Frames the transformer sees: ``input`` T for decoded frames, 1 + K segments for compressed tokens."""
    s = run.input
    return s.num_frames if tokens == "frames" else 1 + s.segments


class Centres(nnx.Variable):
    """EMA class centres of the compact loss: state carried between steps, checkpointed, not optimised."""


@dataclasses.dataclass(frozen=True)
class Hparams:
    """What the step reads, static (part of the traced graph, not of the checkpoint)."""

    compact: CompactSettings
    seed: int
    dropout: bool
    total_steps: int


class SttState(nnx.Module):
    """The network, its optimizer and the class centres, as one NNX graph."""

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        m, compact, optim = run.sections["model"], run.sections["compact"], run.sections["optim"]
        num_classes, total = run.train.num_classes, run.train.total_steps
        self.hparams = Hparams(compact, run.train.seed, m.dropout > 0, total)
        self.net = SpatioTemporalTransformer(
            num_classes, frames=clip_length(run, m.tokens), size=run.input.size, backbone=m.backbone,
            backbone_width=m.backbone_width, stem=m.stem, width=m.width, depth=m.depth, heads=m.heads,
            mlp_ratio=m.mlp_ratio, dropout=m.dropout, tokens=m.tokens, attention=m.attention,
            dtype=DTYPES[m.dtype], rngs=rngs)
        self.centres = Centres(jnp.zeros((num_classes, m.width), jnp.float32))
        self.seen = Centres(jnp.zeros((num_classes,), jnp.float32))
        self.ce_ema = Centres(jnp.asarray(math.log(max(num_classes, 2)), jnp.float32))  # the λ gate's CE
        self.on_step = Centres(jnp.asarray(-1.0, jnp.float32))  # the step the term switched on; -1 = off
        self.opt = nnx.Optimizer(self.net, make_tx(optim, total), wrt=nnx.Param)


def _mask(batch: dict) -> jax.Array:
    return batch["mask"].astype(jnp.float32) if "mask" in batch else jnp.ones(batch["label"].shape[0], jnp.float32)


def _inputs(batch: dict) -> dict:
    return {k: batch[k] for k in ("frames", "iframe", "residuals") if k in batch}


def step_centres(centres: jax.Array, seen: jax.Array, feats: jax.Array, labels: jax.Array, mask: jax.Array,
                 momentum: float) -> tuple[jax.Array, jax.Array]:
    """This step's centres c' [C, D] (differentiable in ``feats``) and which classes they cover [C]."""
    onehot = jax.nn.one_hot(labels, centres.shape[0], dtype=jnp.float32) * mask[:, None]
    count = onehot.sum(0)
    present = count > 0
    mean = (onehot.T @ feats) / jnp.maximum(count, 1.0)[:, None]
    old = seen[:, None] > 0
    blended = jnp.where(old, momentum * centres + (1.0 - momentum) * mean, mean)
    return jnp.where(present[:, None], blended, centres), jnp.maximum(seen, present.astype(jnp.float32))


def compactness(feats: jax.Array, labels: jax.Array, mask: jax.Array, centres: jax.Array, covered: jax.Array,
                eps: float) -> jax.Array:
    """intra / (inter + eps) of squared distances (module docstring); 0 with fewer than 2 classes covered."""
    n = jnp.maximum(mask.sum(), 1.0)
    intra = jnp.sum(mask * jnp.sum((feats - centres[labels]) ** 2, axis=-1)) / n
    d2 = jnp.sum((centres[:, None] - centres[None]) ** 2, axis=-1)
    pair = covered[:, None] * covered[None] * (1.0 - jnp.eye(centres.shape[0]))
    pairs = pair.sum()
    inter = jnp.sum(pair * d2) / jnp.maximum(pairs, 1.0)
    return jnp.where(pairs > 0, intra / (inter + eps), 0.0)


def _loss(net: SpatioTemporalTransformer, centres: jax.Array, seen: jax.Array, batch: dict, hp: Hparams,
          lam: jax.Array, rngs: nnx.Rngs | None):
    logits, feats = net(**_inputs(batch), rngs=rngs)
    mask, labels = _mask(batch), batch["label"]
    n = jnp.maximum(mask.sum(), 1.0)
    ce = jnp.sum(mask * optax.softmax_cross_entropy_with_integer_labels(logits, labels)) / n
    new_centres, covered = step_centres(centres, seen, feats, labels, mask, hp.compact.momentum)
    ratio = compactness(feats, labels, mask, new_centres, covered, hp.compact.eps)
    total = ce + lam * ratio
    aux = {"loss/ce": ce, "loss/compact": ratio, "accuracy": jnp.sum(mask * (logits.argmax(-1) == labels)) / n,
           "centres": jax.lax.stop_gradient(new_centres), "seen": covered}
    return total, aux


class Stt(MethodBase):
    """The ``stt`` Method (see ``fer_jax.core.method.Method``)."""

    name = "stt"
    settings = SETTINGS
    evaluators = ("classification", "embedding")

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        """``frames`` [T, S, S, 3] (RGB tokens) or ``iframe`` [S, S, 3] + ``residuals`` [K, S, S, 3]
        (compressed tokens), and the label."""
        s = run.input.size
        spec = {"label": Feature((), "int32", "label")}
        if run.sections["model"].tokens == "frames":
            spec["frames"] = Feature((clip_length(run, "frames"), s, s, 3))
        else:
            spec["iframe"] = Feature((s, s, 3))
            spec["residuals"] = Feature((clip_length(run, "compressed") - 1, s, s, 3))
        return spec

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        """Decoded frames (``frames`` group: runs of ``frames_per_segment`` at segment centres), or the
        compressed group's I-frame + K residuals, as the model was trained."""
        inp = run.input
        s, names = inp.size, run.train.class_names
        if run.sections["model"].tokens == "frames":
            return ServingSpec({"frames": Feature((inp.num_frames, s, s, 3))}, "frames", "probabilities", names,
                               {"size": s, "frames": inp.num_frames, "frames_per_segment": inp.frames_per_segment})
        k = clip_length(run, "compressed") - 1
        return ServingSpec({"iframe": Feature((s, s, 3)), "residuals": Feature((k, s, s, 3))}, "compressed",
                           "probabilities", names, {"size": s, "segments": k, "gop": inp.gop, "mode": inp.mode})

    def serve(self, predictor: SpatioTemporalTransformer, inputs: dict) -> jax.Array:
        logits, _ = predictor(**_inputs(inputs))
        return jax.nn.softmax(logits, axis=-1)

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> SttState:
        return SttState(run, rngs)

    def train_step(self, state: SttState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        hp = state.hparams
        rngs = step_rngs(hp.seed, step, "dropout") if hp.dropout else None
        grad_fn = nnx.value_and_grad(_loss, has_aux=True)
        c = hp.compact
        on_step = c.switched_on(state.on_step[...], state.ce_ema[...], step, state.centres.shape[0])
        lam = c.weight_at(step, on_step, hp.total_steps)
        (loss, aux), grads = grad_fn(state.net, state.centres[...], state.seen[...], batch, hp, lam, rngs)
        ok = guarded_update(state.net, state.opt, loss, grads)
        ce_ema = c.gate_momentum * state.ce_ema[...] + (1.0 - c.gate_momentum) * aux["loss/ce"]
        for var, new in ((state.centres, aux.pop("centres")), (state.seen, aux.pop("seen")),
                         (state.ce_ema, ce_ema), (state.on_step, on_step)):
            var[...] = jnp.where(ok, new, var[...])  # a step rejected by the guard moves no state
        return {"loss/total": loss, "compact/weight": lam, "compact/ce_ema": ce_ema, **aux}

    def eval_step(self, state: SttState, batch: dict) -> dict[str, jax.Array]:
        logits, feats = state.net(**_inputs(batch))
        return {"logits": logits, "features": feats}

    def predictor(self, state: SttState) -> SpatioTemporalTransformer:
        return state.net
