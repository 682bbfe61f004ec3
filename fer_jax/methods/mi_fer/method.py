"""The MI-FER method: a collaborative min-min game inside ONE jitted train step.

Per step (``train_step``):

1. **Estimator phase**, ``mi.estimator_steps`` times: update only the CLUB estimator q_φ by
   minimising −log q_φ(z_id | z_exp) on matched pairs, with z_exp computed once and held fixed
   (stop-gradient). Several steps per encoder step keep the estimator a good critic of the
   current encoder (default 2).
2. **Encoder phase**, once: update only the encoder, classifier (and apex branch) by minimising
   CE + λ(step)·Î_CLUB(z_exp; z_id) (+ apex.weight · apex term), with the estimator frozen.

Both players minimise (hence "min-min"); the parameter sets are disjoint because each
``nnx.Optimizer`` is built over its own sub-module (``state.net`` vs ``state.estimator``).

Choices, and why:

* **λ warm-up** (``mi.weight``, ``mi.start_step``, ``mi.warmup_steps``): λ is 0 until
  ``start_step`` and then ramps linearly to ``mi.weight`` over ``warmup_steps``. Early z_exp is
  noise and the estimator has not yet fitted it; penalising a poor critic's estimate would push
  the encoder in arbitrary directions and cost accuracy. ``mi.weight == 0`` is the baseline.
* **Negative estimates are not rewarded** (``mi.clip_negative``, default on): the encoder's
  penalty is λ·max(Î, 0). Î < 0 only happens when the critic is worse than the marginal (early, or
  after a fast encoder move); minimising it further would teach the encoder to fool a poor critic
  rather than to drop identity. ``mi/club`` reports the raw estimate.
* **Critic input** (``mi.critic_input``): ``"raw"`` z_exp (default) or ``"unit"`` (L2-normalised),
  which takes the scale of z_exp away from the game so the encoder cannot move the estimate by
  rescaling features the critic has not yet adapted to.
* **Penalty form** (``mi.penalty``): ``"club"`` = λ·max(Î, 0) as above; ``"abs_dims"`` = λ·Σ_d |Î_d|
  over the per-dimension terms of Î (``club_per_dimension``), so the encoder cannot lower the penalty
  by anti-correlating some dimensions of z_exp with z_id (which keeps identity readable) while others
  stay positive; ``"refit"`` = λ·max(Î_refit, 0) with a linear-Gaussian critic refitted in closed form
  on each batch and differentiated through (``refit_linear_club``), so the encoder always faces a
  critic that is optimal for its current features; the trained estimator still reports ``mi/club``.
  The refit scores each row leave-one-out (an in-sample fit rewards collapsing z_exp to few
  dimensions), with ridge ``mi.refit_ridge`` (relative to the mean feature variance), and can fit on
  the last ``mi.refit_memory`` rows of earlier steps as well (``CriticMemory``, held fixed; 0 = this
  batch only), since one small batch is too few rows for a 32–128-D regression.
  The critic can also be linear-Gaussian (``mi.hidden = 0``), a convex fit that a few estimator steps
  keep up to date.
* **Non-finite guard**: each phase applies its update only if its loss and all its gradients are
  finite (``jnp.where`` on the new vs old parameters and optimizer state), so a bad batch never
  corrupts the state; the non-finite ``loss/*`` metric lets the trainer stop and name the step.
* **vCLUB negatives** use a permutation drawn from ``fold_in(key(seed), step)``: deterministic,
  resumable from a checkpoint, and global-view under ``jit`` (same on 1 or N devices).
* **Caveat, measured**: on the toy of ``tests/mi_fer/toy_identity_game.py`` (residuals carrying a
  stronger identity than expression pattern, 16 identities, chance 0.07) a fresh linear probe reads
  identity from z_exp at 0.40–0.42 with λ = 0, and at 0.63–0.81 for every λ > 0 setting tried with
  the MLP critic (λ 0.1–1, 2–10 estimator steps; 600 steps), 0.88–0.91 with ``critic_input="unit"``
  (linear or MLP critic), and 0.72 with the linear critic + ``penalty="abs_dims"`` (400 steps),
  while the batch CLUB estimate fell towards 0. Likely mechanism: the penalty's gradient for row i
  pushes z_i away from the critic's prediction of *its own* z_id (≈ −Wᵀ y_i for a linear critic),
  which writes identity back into z_exp in a form the lagging critic does not yet read. With
  ``penalty="refit"`` (a linear-Gaussian critic refitted in closed form on every batch, λ = 1, 400
  steps) the same probe falls to 0.083 linear / 0.091 MLP (chance 0.072) at WAR 0.78 (λ = 0: 0.99):
  identity is removed, at an accuracy cost that λ trades. That in-sample fit overfits a small batch
  and rewards collapsing z_exp (demo, batch 16: WAR 0.31); the leave-one-out fit + memory keep
  accuracy at small batches. Toy at batch 16, 600 steps, ``mi.refit_memory=128``,
  ``mi.refit_ridge=1`` (WAR, probe linear / MLP): λ = 0: 0.972, 0.41 / 0.26; λ = 1: 0.946,
  0.28 / 0.17; λ = 3: 0.910, 0.21 / 0.16; λ = 10: 0.475 (collapsed). Demo (SynthFace with head
  sway 0.5, 2000 steps, batch 16, chance 0.08): λ = 0: 0.399, 0.27 / 0.21; ``club`` λ = 0.1: 0.423,
  0.30 / 0.32 (more identity); ``refit`` λ = 0.03: 0.464, 0.21 / 0.23; λ = 0.1: 0.470, 0.17 / 0.18;
  λ = 0.2: 0.423, 0.21 / 0.16; λ = 0.3: 0.339, 0.21 / 0.20. So the configs penalise with
  ``"refit"``, λ = 0.1. Check the identity audit, not ``mi/club``, before trusting a setting.
* **Where the invariance holds, measured** (probes averaged over 10 probe splits): with 24 training
  identities the game halved the probes' margin over chance on the *training* identities (linear
  0.106 vs 0.165, MLP 0.086 vs 0.133, chance 0.042) but much less on unseen ones, and a probe given
  the expression label (features centred per class) read unseen identities equally well with and
  without the game (MLP 0.229 vs 0.224). The invariance is learnt per training identity, so it needs
  many of them: the demo trains on 48 (one clip per expression each). There (chance 0.042, baseline
  WAR 0.438, probes 0.161 / 0.144): λ = 0.1 from step 50: WAR 0.417, 0.102 / 0.099; λ = 0.05 from step
  50: 0.417, 0.120 / 0.114; λ = 0.1 from step 300 (ramp 600): 0.443, 0.121 / 0.114; λ = 0.2 from step
  300: 0.432, 0.107 / 0.104; λ = 0.3 from step 300: 0.420, 0.140 / 0.111. Seed 1 (baseline 0.446,
  0.152 / 0.125): λ = 0.1 from step 50: 0.405, 0.114 / 0.116; λ = 0.2 from step 300: 0.440,
  0.114 / 0.126. Seed 2 (baseline 0.432, 0.149 / 0.135): λ = 0.2 from step 300: 0.405, 0.131 / 0.108.
  160 identities (96 in training, chance 0.021, seed 0): λ = 0: 0.466, 0.086 / 0.071; λ = 0.2 from
  step 300: 0.445, 0.078 / 0.057. The linear probe falls in every setting; the MLP probe does not always
  (this critic is linear in z_exp). A nonlinear closed-form critic (ridge on 128 random ReLU features of z_exp)
  was tried at λ = 0.2 from step 300: WAR 0.375, 0.131 / 0.113, worse on both counts, so not kept.
* **z_id on the sphere of radius √d** (``mi.identity_norm="sphere"``, default; ``"none"`` keeps it
  raw): face-recognition embeddings are compared by angle, and a unit-norm 128-D embedding spreads
  only ≈0.08 per dimension (0.02 within one person, measured on the demo's SynthFace encoder), below
  the estimator's log-variance floor (e^−5 ≈ 0.007 = 0.08²): the Gaussian critic could not represent
  how well z_exp predicts z_id, and so under-reported and under-penalised it. Scaling by √d gives
  dimensions of spread ≈1 whatever the backbone's norm (dlib's or our Flax encoder's).
* The identity embedding dimension (``mi.identity_dim``, default 128 = dlib's) is needed to build
  the estimator; a batch of another width raises a clear error at trace time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from fer_jax.methods.mi_fer.club import (ClubEstimator, club_estimate, club_per_dimension, club_per_example,
                                         estimator_loss, refit_linear_club)
from fer_jax.methods.mi_fer.model import ApexBranch, ExpressionClassifier, ExpressionEncoder, MiFerNet
from fer_jax.train.method import Feature, MethodBase, ServingSpec
from fer_jax.train.method import config_get as _get
from fer_jax.train.optim import make_tx

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
_DEFAULT_OPTIM = {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "schedule": "cosine", "warmup_steps": 0}


@dataclasses.dataclass(frozen=True)
class Hparams:
    """The step's static settings (hashable: part of the traced graph, not of the checkpoint)."""

    mi_weight: float = 0.0
    start_step: int = 0
    warmup_steps: int = 0
    estimator: str = "club"
    estimator_steps: int = 2
    identity_dim: int = 128
    apex_enabled: bool = False
    apex_weight: float = 1.0
    apex_agreement: float = 1.0
    clip_negative: bool = True
    penalty: str = "club"
    critic_input: str = "raw"
    refit_ridge: float = 0.1
    refit_memory: int = 0
    identity_norm: str = "sphere"
    seed: int = 0

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "Hparams":
        h = cls(
            mi_weight=float(_get(config, "mi.weight", 0.0)),
            start_step=int(_get(config, "mi.start_step", 0)),
            warmup_steps=int(_get(config, "mi.warmup_steps", 0)),
            estimator=str(_get(config, "mi.estimator", "club")),
            estimator_steps=int(_get(config, "mi.estimator_steps", 2)),
            identity_dim=int(_get(config, "mi.identity_dim", 128)),
            apex_enabled=bool(_get(config, "apex.enabled", False)),
            apex_weight=float(_get(config, "apex.weight", 1.0)),
            apex_agreement=float(_get(config, "apex.agreement_weight", 1.0)),
            clip_negative=bool(_get(config, "mi.clip_negative", True)),
            penalty=str(_get(config, "mi.penalty", "club")),
            critic_input=str(_get(config, "mi.critic_input", "raw")),
            refit_ridge=float(_get(config, "mi.refit_ridge", 0.1)),
            refit_memory=int(_get(config, "mi.refit_memory", 0)),
            identity_norm=str(_get(config, "mi.identity_norm", "sphere")),
            seed=int(_get(config, "seed", 0)),
        )
        if h.estimator not in ("club", "vclub"):
            raise ValueError(f"mi.estimator must be 'club' or 'vclub', got {h.estimator!r}")
        if h.critic_input not in ("raw", "unit"):
            raise ValueError(f"mi.critic_input must be 'raw' or 'unit', got {h.critic_input!r}")
        if h.penalty not in ("club", "abs_dims", "refit"):
            raise ValueError(f"mi.penalty must be 'club', 'abs_dims' or 'refit', got {h.penalty!r}")
        if h.identity_norm not in ("sphere", "none"):
            raise ValueError(f"mi.identity_norm must be 'sphere' or 'none', got {h.identity_norm!r}")
        if h.estimator_steps < 1:
            raise ValueError(f"mi.estimator_steps must be >= 1, got {h.estimator_steps}")
        return h

    def weight_at(self, step: jax.Array) -> jax.Array:
        """λ(step): 0 before ``start_step``, then a linear ramp to ``mi_weight`` over ``warmup_steps``."""
        t = jnp.asarray(step, jnp.float32) - self.start_step
        ramp = jnp.clip(t / self.warmup_steps, 0.0, 1.0) if self.warmup_steps > 0 else (t >= 0).astype(jnp.float32)
        return self.mi_weight * ramp


class Memory(nnx.Variable):
    """Non-trainable state carried between steps (checkpointed with the rest, never optimized)."""


class CriticMemory(nnx.Module):
    """The last ``rows`` (z_exp, z_id) pairs, newest first, for the refit critic (``mi.refit_memory``).

    Why: a critic refitted on one small batch overfits it (its in-sample estimate is biased by about
    dim(z_exp)/batch and its gradient is mostly noise: demo WAR fell from 0.69 to 0.31 at batch 16).
    Fitting on this batch plus the recent ones (held fixed) gives the fit many more rows while the
    current batch, the only part with a gradient, still moves the critic, so the encoder cannot
    outrun it. Features a few steps old are slightly stale; the memory is short for that reason.
    """

    def __init__(self, rows: int, x_dim: int, y_dim: int):
        self.x = Memory(jnp.zeros((rows, x_dim), jnp.float32))
        self.y = Memory(jnp.zeros((rows, y_dim), jnp.float32))
        self.valid = Memory(jnp.zeros((rows,), jnp.float32))

    def push(self, x: jax.Array, y: jax.Array, mask: jax.Array) -> None:
        rows = self.valid.shape[0]
        self.x[...] = jnp.concatenate([x.astype(jnp.float32), self.x[...]])[:rows]
        self.y[...] = jnp.concatenate([y.astype(jnp.float32), self.y[...]])[:rows]
        self.valid[...] = jnp.concatenate([mask.astype(jnp.float32), self.valid[...]])[:rows]


class MiFerState(nnx.Module):
    """Model, CLUB estimator and their two optimizers over disjoint parameters, as one NNX graph."""

    def __init__(self, config: ml_collections.ConfigDict, rngs: nnx.Rngs):
        self.hparams = Hparams.from_config(config)
        dtype_name = str(_get(config, "model.dtype", "float32"))
        if dtype_name not in _DTYPES:
            raise ValueError(f"model.dtype must be one of {sorted(_DTYPES)}, got {dtype_name!r}")
        dtype = _DTYPES[dtype_name]
        arch = str(_get(config, "model.encoder", "tiny"))
        width = _get(config, "model.width", None)
        stem = str(_get(config, "model.stem", "imagenet"))
        feature_dim = int(_get(config, "model.feature_dim", 128))
        encoder = ExpressionEncoder(
            arch, width, feature_dim,
            use_mv=bool(_get(config, "model.use_mv", False)),
            mv_arch=str(_get(config, "model.mv_encoder", "tiny")),
            mv_width=_get(config, "model.mv_width", None),
            stem=stem, dtype=dtype, rngs=rngs,
        )
        apex = ApexBranch(arch, width, feature_dim, stem, dtype=dtype, rngs=rngs) if self.hparams.apex_enabled else None
        self.net = MiFerNet(int(_get(config, "num_classes", 7)), encoder, apex, rngs=rngs)
        self.estimator = ClubEstimator(
            feature_dim, self.hparams.identity_dim,
            hidden=int(_get(config, "mi.hidden", 256)),
            logvar_bound=float(_get(config, "mi.logvar_bound", 5.0)),
            rngs=rngs,
        )
        if self.hparams.penalty == "refit" and self.hparams.refit_memory > 0:
            self.memory = CriticMemory(self.hparams.refit_memory, feature_dim, self.hparams.identity_dim)
        else:
            self.memory = None
        total = int(_get(config, "total_steps", 1000))
        enc_cfg = _get(config, "optim", None) or ml_collections.ConfigDict(_DEFAULT_OPTIM)
        est_cfg = _get(config, "mi.optim", None) or ml_collections.ConfigDict(_DEFAULT_OPTIM)
        self.encoder_opt = nnx.Optimizer(self.net, make_tx(enc_cfg, total), wrt=nnx.Param)
        self.estimator_opt = nnx.Optimizer(
            self.estimator, make_tx(est_cfg, total * self.hparams.estimator_steps), wrt=nnx.Param
        )


# --- the two phases -------------------------------------------------------------------------


def _all_finite(loss: jax.Array, grads: Any) -> jax.Array:
    ok = jnp.isfinite(loss)
    for g in jax.tree.leaves(grads):
        ok &= jnp.all(jnp.isfinite(g))
    return ok


def _guarded_update(module: nnx.Module, opt: nnx.Optimizer, grads: Any, ok: jax.Array) -> None:
    """``opt.update(module, grads)``, kept only where ``ok`` (parameters and optimizer state alike)."""
    old_params = nnx.as_pure(nnx.state(module, nnx.Param))
    old_opt = nnx.as_pure(nnx.state(opt))
    opt.update(module, grads)
    keep = lambda new, old: jnp.where(ok, new, old)
    nnx.update(module, jax.tree.map(keep, nnx.as_pure(nnx.state(module, nnx.Param)), old_params))
    nnx.update(opt, jax.tree.map(keep, nnx.as_pure(nnx.state(opt)), old_opt))


def _mask(batch: dict) -> jax.Array:
    return batch["mask"].astype(jnp.float32) if "mask" in batch else jnp.ones(batch["label"].shape[0], jnp.float32)


def _identity(state: MiFerState, batch: dict) -> jax.Array:
    z_id = batch["identity_embedding"]
    if z_id.shape[-1] != state.hparams.identity_dim:
        raise ValueError(
            f"identity_embedding has {z_id.shape[-1]} dims but the estimator was built for "
            f"mi.identity_dim={state.hparams.identity_dim}; set mi.identity_dim to the dataset's backbone dim"
        )
    z_id = z_id.astype(jnp.float32)
    if state.hparams.identity_norm == "sphere":
        z_id = z_id * jnp.sqrt(z_id.shape[-1] / (jnp.sum(z_id * z_id, axis=-1, keepdims=True) + 1e-12))
    return z_id


def _vclub_key(hp: Hparams, step: jax.Array, salt: int) -> jax.Array | None:
    if hp.estimator != "vclub":
        return None
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(hp.seed), step), salt)


def estimator_phase(state: MiFerState, batch: dict, step: jax.Array) -> jax.Array:
    """Phase 1: ``mi.estimator_steps`` updates of the estimator only. Returns the last step's loss."""
    _, z = state.net(batch["residuals"], batch.get("motion_vectors"))
    z = jax.lax.stop_gradient(_critic_view(z, state.hparams))
    z_id, mask = _identity(state, batch), _mask(batch)
    loss = jnp.zeros((), jnp.float32)
    for _ in range(state.hparams.estimator_steps):
        loss, grads = nnx.value_and_grad(estimator_loss)(state.estimator, z, z_id, mask)
        _guarded_update(state.estimator, state.estimator_opt, grads, _all_finite(loss, grads))
    return loss


def _encoder_loss(net: MiFerNet, estimator: ClubEstimator, batch: dict, z_id, mask, lam, hp: Hparams, key,
                  memory: tuple[jax.Array, jax.Array, jax.Array] | None = None):
    logits, z = net(batch["residuals"], batch.get("motion_vectors"))
    n = jnp.maximum(mask.sum(), 1.0)
    ce = jnp.sum(mask * optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])) / n
    zc = _critic_view(z, hp)
    club = club_estimate(estimator, zc, z_id, mask, hp.estimator, key)
    if hp.penalty == "abs_dims":
        penalty = jnp.sum(jnp.abs(club_per_dimension(estimator, zc, z_id, mask)))
    elif hp.penalty == "refit":
        x, y, m = zc, z_id, mask
        if memory is not None:  # fit on this batch + the remembered rows (held fixed)
            x, y, m = (jnp.concatenate([a, b]) for a, b in zip((x, y, m), memory))
        penalty = jnp.maximum(refit_linear_club(x, y, m, hp.refit_ridge), 0.0)
    else:
        penalty = jnp.maximum(club, 0.0) if hp.clip_negative else club
    total = ce + lam * penalty
    aux = {"z": jax.lax.stop_gradient(zc), "loss/ce": ce, "mi/club": club,
           "accuracy": jnp.sum(mask * (logits.argmax(-1) == batch["label"])) / n}
    if net.apex is not None:
        w = mask * batch["has_apex"].astype(jnp.float32)
        z_apex = net.apex(batch["apex_frame"])
        apex_logits = net.head(z_apex).astype(jnp.float32)
        apex_ce = optax.softmax_cross_entropy_with_integer_labels(apex_logits, batch["label"])
        teacher = jax.nn.log_softmax(jax.lax.stop_gradient(apex_logits))  # KL(p_apex ‖ p_residual)
        agree = jnp.sum(jnp.exp(teacher) * (teacher - jax.nn.log_softmax(logits)), axis=-1)
        per_row = apex_ce + hp.apex_agreement * agree
        apex_loss = jnp.sum(w * per_row) / jnp.maximum(w.sum(), 1.0)
        total = total + hp.apex_weight * apex_loss
        aux["loss/apex"] = apex_loss
    return total, aux


def _critic_view(z: jax.Array, hp: Hparams) -> jax.Array:
    """What the estimator sees of z_exp: as is, or L2-normalised (``mi.critic_input='unit'``)."""
    return _unit(z) if hp.critic_input == "unit" else z


def _unit(z: jax.Array) -> jax.Array:
    return z / jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True) + 1e-12)


def encoder_phase(state: MiFerState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
    """Phase 2: one update of encoder + classifier (+ apex branch) with the estimator frozen."""
    hp = state.hparams
    lam = hp.weight_at(step)
    grad_fn = nnx.value_and_grad(_encoder_loss, has_aux=True)
    z_id, mask = _identity(state, batch), _mask(batch)
    memory = None if state.memory is None else (state.memory.x[...], state.memory.y[...], state.memory.valid[...])
    (loss, aux), grads = grad_fn(state.net, state.estimator, batch, z_id, mask, lam, hp,
                                 _vclub_key(hp, step, 1 << 20), memory)
    ok = _all_finite(loss, grads)
    _guarded_update(state.net, state.encoder_opt, grads, ok)
    z = aux.pop("z")
    if state.memory is not None:
        keep = lambda a: jnp.where(ok, a, 0.0)  # a rejected step leaves no NaN rows behind
        state.memory.push(keep(z), keep(z_id), keep(mask))
    return {"loss/encoder": loss, "mi/weight": lam, **aux}


class MiFer(MethodBase):
    """The ``mi_fer`` Method (see ``fer_jax.train.method.Method``)."""

    name = "mi_fer"
    evaluators = ("classification",)

    def input_spec(self, config: ml_collections.ConfigDict) -> dict[str, Feature]:
        """Residuals (+ motion vectors) of K segments, the I-frame's identity embedding, the apex frame
        when the apex constraint is on, the label, and the subject (for the identity audit)."""
        s, k = int(config.input.size), int(config.input.segments)
        spec = {"residuals": Feature((k, s, s, 3)), "motion_vectors": Feature((k, s // 4, s // 4, 2)),
                "identity_embedding": Feature((int(_get(config, "mi.identity_dim", 128)),), role="embedding"),
                "label": Feature((), "int32", "label"), "identity": Feature((), "int32", "identity")}
        if bool(_get(config, "apex.enabled", False)):
            spec["apex_frame"] = Feature((s, s, 3), role="identity_signal")
            spec["has_apex"] = Feature((), role="weight")
        return spec

    def serving_spec(self, config: ml_collections.ConfigDict) -> ServingSpec:
        """Residual-only: no I-frame, no identity network at inference (motion vectors if trained with)."""
        s, k = int(config.input.size), int(config.input.segments)
        inputs = {"residuals": Feature((k, s, s, 3))}
        if bool(_get(config, "model.use_mv", False)):
            inputs["motion_vectors"] = Feature((k, s // 4, s // 4, 2))
        icfg = config.input
        return ServingSpec(inputs, "compressed", "probabilities", tuple(config.get("class_names") or ()),
                           {"size": s, "segments": k, "gop": int(icfg.get("gop", 12)),
                            "mode": str(icfg.get("mode", "accumulate"))})

    def serve(self, predictor: ExpressionClassifier, inputs: dict) -> jax.Array:
        logits, _ = predictor(inputs["residuals"], inputs.get("motion_vectors"))
        return jax.nn.softmax(logits, axis=-1)

    def create(self, config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> MiFerState:
        return MiFerState(config, rngs)

    def train_step(self, state: MiFerState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        est_loss = estimator_phase(state, batch, step)
        metrics = encoder_phase(state, batch, step)
        return {"loss/estimator": est_loss, **metrics}

    def eval_step(self, state: MiFerState, batch: dict) -> dict[str, jax.Array]:
        logits, z = state.net(batch["residuals"], batch.get("motion_vectors"))
        out = {"logits": logits, "features": z}
        if "identity_embedding" in batch:
            out["mi/club_per_example"] = club_per_example(
                state.estimator, _critic_view(z, state.hparams), _identity(state, batch), _mask(batch), "club")
        return out

    def predictor(self, state: MiFerState) -> ExpressionClassifier:
        return ExpressionClassifier(state.net.encoder, state.net.head)
