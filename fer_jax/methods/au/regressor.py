"""Stage 2, ``au_intensity``: per-frame AU intensity regression from a seeded fraction of labelled frames.

Batch: ``frames`` [B, W, S, S, 3], ``au_intensity`` / ``au_mask`` [B, W, A] (−1 / 0 where not coded) and
the ``position`` keys ``clip_key`` [B], ``frame_index`` [B, W] (ARCHITECTURE §3). Targets are named by
``config.target_names`` (``AU01`` ...), A = their count.

Choices, and why:

* **Label subset** (``labels.fraction``, ``labels.seed``; ``label_subset.py``): a frame's label enters the
  loss iff ``au_mask`` is 1 *and* the frame's hash of (labels.seed, clip_key, frame_index) falls under
  the fraction. Everything else is replaced by 0 with ``jnp.where`` *before* the loss, so an unchosen
  frame's value (even NaN) cannot reach the loss or its gradient (tested).
* **Gradients flow through time**: the whole window goes through the CNN and the GRU; only the loss is
  restricted to the chosen frames, so an unlabelled frame still shapes the features of the labelled
  frames after it (the semi-supervised signal of the temporal module).
* **Loss**: mean squared (or absolute, ``regressor.loss``) error in intensity units over the chosen,
  coded frames of the batch; a batch with none gives loss 0 and zero gradients.
* **From stage 1**: ``init_from = {"pretrain": {source, checkpoint: "latest", load: {"net/backbone":
  "net/backbone"}}}`` in the config; without it the same model trains from scratch (the baseline).
* **Serving**: the predictor maps a window of frames to per-frame intensities clipped to [0, 5];
  ``serve`` (generic ``predict``/``export``) gives the window's mean per AU; ``fer-jax au`` gives every
  frame (``fer_jax/commands/au.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.core.method import Feature, MethodBase, ServingSpec
from fer_jax.core.settings import ConfigError, RunSettings
from fer_jax.methods.au import label_subset
from fer_jax.methods.au.contrastive import window_frames
from fer_jax.methods.au.label_subset import chosen
from fer_jax.methods.au.model import AuRegressor
from fer_jax.methods.au.settings import LabelSettings, ModelSettings, RegressorSettings
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx

SETTINGS = {"model": ModelSettings, "labels": LabelSettings, "regressor": RegressorSettings,
            "optim": OptimSettings}
MAX_INTENSITY = 5.0


def num_aus(run: RunSettings) -> int:
    names = run.train.target_names
    if not names:
        raise ConfigError("au_intensity needs config.target_names (the AU names, e.g. 'AU01', in data order)")
    return len(names)


class RegressorState(nnx.Module):
    """The stage-2 network and its optimizer."""

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        self.labels = run.sections["labels"]
        self.regressor = run.sections["regressor"]
        self.net = AuRegressor(run.sections["model"], num_aus(run), rngs=rngs)
        self.opt = nnx.Optimizer(self.net, make_tx(run.sections["optim"], run.train.total_steps), wrt=nnx.Param)


def loss_mask(batch: dict, labels: LabelSettings) -> jax.Array:
    """[B, W, A] float 1/0: coded, chosen by the label subset, and not an eval padding row."""
    pick = chosen(labels.seed, labels.fraction, batch["clip_key"][:, None], batch["frame_index"])  # [B, W]
    m = batch["au_mask"].astype(jnp.float32) * pick[..., None]
    if "mask" in batch:
        m = m * batch["mask"].astype(jnp.float32)[:, None, None]
    return m


def _loss(net: AuRegressor, frames: jax.Array, target: jax.Array, m: jax.Array, s: RegressorSettings):
    pred = net(frames, s.freeze_cnn)
    target = jnp.where(m > 0, target, 0.0)  # never read an unchosen frame's value, NaN included
    err = jnp.where(m > 0, pred - target, 0.0)
    per = err * err if s.loss == "mse" else jnp.abs(err)
    n = jnp.maximum(m.sum(), 1.0)
    return jnp.sum(per) / n, pred


class AuIntensity(MethodBase):
    """The ``au_intensity`` Method (stage 2; see the module docstring)."""

    name = "au_intensity"
    settings = SETTINGS
    evaluators = ("regression",)

    def on_start(self, run: RunSettings, workdir: str) -> None:
        """``workdir/label_subset.json``: fraction, seed and the frames the rule chose in the training
        split (a built dataset; the in-memory ``random`` data has no clip ids to count)."""
        if run.input.dataset != "random":
            label_subset.record_from_dataset(run, workdir)

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        s, w, a = run.input.size, window_frames(run), num_aus(run)
        return {"frames": Feature((w, s, s, 3)), "au_intensity": Feature((w, a), role="target"),
                "au_mask": Feature((w, a), role="target_mask"), "clip_key": Feature((), "int32", "index"),
                "frame_index": Feature((w,), "int32", "index")}

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        s, w = run.input.size, window_frames(run)
        return ServingSpec({"frames": Feature((w, s, s, 3))}, "frames", "values", run.train.target_names,
                           {"size": s, "frames": w, "window": w})

    def serve(self, predictor: AuRegressor, inputs: dict) -> jax.Array:
        return predict_frames(predictor, inputs["frames"]).mean(axis=1)

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> RegressorState:
        return RegressorState(run, rngs)

    def train_step(self, state: RegressorState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        m = loss_mask(batch, state.labels)
        grad_fn = nnx.value_and_grad(_loss, has_aux=True)
        (loss, _), grads = grad_fn(state.net, batch["frames"], batch["au_intensity"], m, state.regressor)
        guarded_update(state.net, state.opt, loss, grads)
        return {"loss/regression": loss, "labels/frames_used": m.max(axis=-1).sum()}

    def eval_step(self, state: RegressorState, batch: dict) -> dict[str, jax.Array]:
        pred = predict_frames(state.net, batch["frames"])
        mask = batch["au_mask"].astype(jnp.float32)
        if "mask" in batch:
            mask = mask * batch["mask"].astype(jnp.float32)[:, None, None]
        return {"predictions": pred, "targets": batch["au_intensity"], "target_mask": mask}

    def predictor(self, state: RegressorState) -> AuRegressor:
        return state.net


def predict_frames(net: AuRegressor, frames: jax.Array) -> jax.Array:
    """[B, W, S, S, 3] -> per-frame intensities [B, W, A] on the 0-5 scale."""
    return jnp.clip(net(frames), 0.0, MAX_INTENSITY)
