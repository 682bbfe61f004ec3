"""Stage 1, ``au_contrastive``: InfoNCE pre-training of the spatio-temporal backbone on unlabeled video.

Batch: ``frames`` [B, W, S, S, 3] only (one contiguous window per clip, ``input.window`` = W); no label,
no AU key is read, so any video build with stored frames serves (SynthFace without its labels, a folder
of the user's videos built with ``--store-frames``).

Choices, and why (the paper's positives are not specified beyond "augmented views"; docs/methods.md §3):

* **Positives** (``contrastive.*``): from each window, views of ``view_frames`` consecutive frames: two
  of the *same* sub-window (offset o, uniform), each augmented independently, and, with ``max_shift``
  > 0, a third from a *nearby* sub-window o ± 1..max_shift frames away (clipped to the window). All
  views of a window are positives of each other; every view of another window in the batch is a
  negative. Same-window pairs teach invariance to appearance nuisances (flip, light, shift); the
  nearby window teaches that a face a few frames later is still "the same moment", i.e. slow features,
  while a short ``max_shift`` keeps far-apart expression phases from being pulled together.
* **Loss**: multi-positive InfoNCE (SupCon's L_out; with two views it is NT-Xent): for each view,
  −mean over its positives of log softmax(sim / temperature) over all other views of the batch.
* **Augmentation** is done in the step on the device (flip, brightness, contrast, translation with
  edge padding, grayscale, noise), one draw per view shared by its frames, so motion is kept intact.
* **Randomness**: offsets and augmentations draw from ``step_key(seed, step, "views")`` /
  ``"augment"`` (``fer_jax/train/rng.py``): exact resume, 1 device = 8 devices.
* Non-finite guard: ``fer_jax.train.optim.guarded_update``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.core.method import Feature, MethodBase
from fer_jax.core.settings import ConfigError, RunSettings
from fer_jax.methods.au.model import ContrastiveNet
from fer_jax.methods.au.settings import ContrastiveSettings, ModelSettings
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx
from fer_jax.train.rng import step_key

SETTINGS = {"model": ModelSettings, "contrastive": ContrastiveSettings, "optim": OptimSettings}


def window_frames(run: RunSettings) -> int:
    """W: ``input.window`` (the AU methods read one contiguous window per clip)."""
    w = run.input.window
    if w < 1:
        raise ConfigError("the AU methods read contiguous windows: set input.window > 0")
    return w


def augment(x: jax.Array, key: jax.Array, s: ContrastiveSettings) -> jax.Array:
    """[B, L, S, S, 3] in [0, 1] -> augmented, one draw per example for all its frames."""
    b, _, h, w, _ = x.shape
    k = jax.random.split(key, 8)
    if s.flip:
        flip = jax.random.bernoulli(k[0], 0.5, (b, 1, 1, 1, 1))
        x = jnp.where(flip, x[:, :, :, ::-1], x)
    pad = int(round(s.translate * h))
    if pad > 0:
        shifts = jax.random.randint(k[1], (b, 2), 0, 2 * pad + 1)
        padded = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
        crop = lambda img, d: jax.lax.dynamic_slice(img, (0, d[0], d[1], 0), (img.shape[0], h, w, 3))  # noqa: E731
        x = jax.vmap(crop)(padded, shifts)
    if s.contrast > 0:
        c = jax.random.uniform(k[2], (b, 1, 1, 1, 1), minval=1 - s.contrast, maxval=1 + s.contrast)
        mean = x.mean(axis=(1, 2, 3, 4), keepdims=True)
        x = (x - mean) * c + mean
    if s.brightness > 0:
        x = x + jax.random.uniform(k[3], (b, 1, 1, 1, 1), minval=-s.brightness, maxval=s.brightness)
    if s.grayscale > 0:
        gray = jax.random.bernoulli(k[4], s.grayscale, (b, 1, 1, 1, 1))
        x = jnp.where(gray, jnp.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape), x)
    if s.noise > 0:
        x = x + s.noise * jax.random.normal(k[5], x.shape)
    return jnp.clip(x, 0.0, 1.0)


def make_views(frames: jax.Array, key: jax.Array, s: ContrastiveSettings) -> tuple[jax.Array, ...]:
    """[B, W, ...] -> 2 (same sub-window) or 3 (+ a nearby one) un-augmented views [B, L, ...]."""
    b, w = frames.shape[:2]
    length = min(s.view_frames, w)
    k_off, k_d, k_sign = jax.random.split(key, 3)
    offset = jax.random.randint(k_off, (b,), 0, w - length + 1)
    take = jax.vmap(lambda clip, o: jax.lax.dynamic_slice_in_dim(clip, o, length, axis=0))
    same = take(frames, offset)
    if s.max_shift <= 0:
        return same, same
    d = jax.random.randint(k_d, (b,), 1, s.max_shift + 1) * jnp.where(jax.random.bernoulli(k_sign, 0.5, (b,)), 1, -1)
    near = jnp.clip(offset + d, 0, w - length)
    return same, same, take(frames, near)


def info_nce(z: jax.Array, ids: jax.Array, valid: jax.Array, temperature: float) -> tuple[jax.Array, jax.Array]:
    """Multi-positive InfoNCE over unit vectors ``z`` [N, P]; rows with equal ``ids`` are positives.
    Returns (mean loss over valid rows, top-1 accuracy: the most similar other view is a positive)."""
    n = z.shape[0]
    sim = (z @ z.T) / temperature
    eye = jnp.eye(n, dtype=bool)
    candidate = (~eye) & (valid[None, :] > 0)
    sim = jnp.where(candidate, sim, -1e9)  # finite: a row with no candidate stays NaN-free
    log_prob = sim - jax.nn.logsumexp(sim, axis=1, keepdims=True)
    pos = candidate & (ids[:, None] == ids[None, :])
    n_pos = jnp.maximum(pos.sum(axis=1), 1)
    weight = valid * (pos.sum(axis=1) > 0)
    per_row = jnp.where(weight > 0, -jnp.sum(jnp.where(pos, log_prob, 0.0), axis=1) / n_pos, 0.0)
    loss = jnp.sum(weight * per_row) / jnp.maximum(weight.sum(), 1.0)
    hit = jnp.take_along_axis(pos, jnp.argmax(sim, axis=1)[:, None], axis=1)[:, 0]
    acc = jnp.sum(weight * hit) / jnp.maximum(weight.sum(), 1.0)
    return loss, acc


class ContrastiveState(nnx.Module):
    """The stage-1 network and its optimizer."""

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        self.settings = run.sections["contrastive"]
        self.seed = run.train.seed
        self.net = ContrastiveNet(run.sections["model"], rngs=rngs)
        self.opt = nnx.Optimizer(self.net, make_tx(run.sections["optim"], run.train.total_steps), wrt=nnx.Param)


def _loss(net: ContrastiveNet, views: tuple[jax.Array, ...], valid: jax.Array, temperature: float):
    b = views[0].shape[0]
    z = net(jnp.concatenate(views, axis=0))
    ids = jnp.tile(jnp.arange(b), len(views))
    loss, acc = info_nce(z, ids, jnp.tile(valid, len(views)), temperature)
    return loss, acc


class AuContrastive(MethodBase):
    """The ``au_contrastive`` Method (stage 1; see the module docstring)."""

    name = "au_contrastive"
    settings = SETTINGS
    evaluators = ()

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        s = run.input.size
        return {"frames": Feature((window_frames(run), s, s, 3))}

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> ContrastiveState:
        if run.sections["contrastive"].view_frames > window_frames(run):
            raise ConfigError("contrastive.view_frames must be <= input.window")
        return ContrastiveState(run, rngs)

    def train_step(self, state: ContrastiveState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        s = state.settings
        frames = batch["frames"].astype(jnp.float32)
        valid = batch["mask"].astype(jnp.float32) if "mask" in batch else jnp.ones(frames.shape[0], jnp.float32)
        raw = make_views(frames, step_key(state.seed, step, "views"), s)
        keys = jax.random.split(step_key(state.seed, step, "augment"), len(raw))
        views = tuple(augment(v, k, s) for v, k in zip(raw, keys))
        (loss, acc), grads = nnx.value_and_grad(_loss, has_aux=True)(state.net, views, valid, s.temperature)
        guarded_update(state.net, state.opt, loss, grads)
        return {"loss/infonce": loss, "contrastive/accuracy": acc}

    def eval_step(self, state: ContrastiveState, batch: dict) -> dict[str, jax.Array]:
        return {"features": state.net(batch["frames"])}

    def predictor(self, state: ContrastiveState) -> ContrastiveNet:
        return state.net
