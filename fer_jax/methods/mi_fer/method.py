"""The MI-FER method: a collaborative min-min game inside ONE jitted train step.

Per step (``train_step``):

1. **Estimator phase**, ``mi.estimator_steps`` times: update only the CLUB estimator q_φ by
   minimising −log q_φ(z_id | z_exp) on matched pairs, with z_exp computed once and held fixed
   (stop-gradient). Several steps per encoder step keep the estimator a good critic of the
   current encoder.
2. **Encoder phase**, once: update only the encoder, classifier (and apex branch) by minimising
   CE + λ(step)·penalty (+ apex.weight · apex term), with the estimator frozen.

Both players minimise (hence "min-min"); the parameter sets are disjoint because each
``nnx.Optimizer`` is built over its own sub-module (``state.net`` vs ``state.estimator``). Settings
and their defaults: ``settings.py``; measurements behind the choices below: ``README.md``.

Choices, and why:

* **λ warm-up** (``mi.weight``, ``mi.start_step``, ``mi.warmup_steps``): λ is 0 until ``start_step``,
  then ramps linearly. Early z_exp is noise the critic has not fitted; penalising a poor critic's
  estimate pushes the encoder in arbitrary directions. ``mi.weight == 0`` is the baseline.
* **Negative estimates are not rewarded** (``mi.clip_negative``): Î < 0 only means the critic is worse
  than the marginal; minimising it further teaches the encoder to fool a poor critic. ``mi/club``
  reports the raw estimate.
* **Critic input** (``mi.critic_input``): ``"unit"`` L2-normalises z_exp so the encoder cannot move the
  estimate by rescaling features the critic has not adapted to.
* **Penalty form** (``mi.penalty``): ``"club"`` = λ·max(Î, 0) under the trained critic (the paper's
  game); ``"abs_dims"`` = λ·Σ_d |Î_d|, so anti-correlated dimensions cannot cancel positive ones;
  ``"refit"`` (the configs' choice) = λ·max(Î_refit, 0) under a linear-Gaussian critic refitted in
  closed form on each batch and differentiated through, so the encoder always faces a critic optimal
  for its current features. Under the trained critic the game made identity *more* readable (the
  penalty's gradient writes identity back in a form the lagging critic does not yet read); the refit
  critic removes it. The refit scores rows leave-one-out (an in-sample fit rewards collapsing z_exp),
  with ridge ``mi.refit_ridge`` and the last ``mi.refit_memory`` rows of earlier steps (``CriticMemory``),
  since one small batch is too few rows for a 32-128-D regression. Check the identity audit, not
  ``mi/club``, before trusting a setting.
* **Non-finite guard** (``fer_jax.train.optim.guarded_update``): a phase's update is kept only if its
  loss and gradients are finite; a rejected encoder step also leaves no rows in the critic memory.
* **vCLUB negatives** use a permutation drawn from ``fold_in(key(seed), step)``: deterministic,
  resumable, and the same on 1 or N devices.
* **z_id on the sphere of radius √d** (``mi.identity_norm="sphere"``): a unit-norm 128-D embedding
  spreads ≈0.08 per dimension, below the critic's log-variance floor (e^−5 ≈ 0.08²), so the Gaussian
  critic under-reported how well z_exp predicts z_id. Scaling by √d gives a spread ≈1 whatever the
  backbone's norm.
* ``mi.identity_dim`` (the backbone's embedding width) builds the estimator; a batch of another width
  raises a clear error at trace time.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase, ServingSpec
from fer_jax.core.settings import RunSettings
from fer_jax.methods.mi_fer.club import (
    ClubEstimator,
    club_estimate,
    club_per_dimension,
    club_per_example,
    estimator_loss,
    refit_linear_club,
)
from fer_jax.methods.mi_fer.model import ApexBranch, ExpressionClassifier, ExpressionEncoder, MiFerNet
from fer_jax.methods.mi_fer.settings import DTYPES, ApexSettings, MiSettings, ModelSettings
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx

SETTINGS = {"model": ModelSettings, "mi": MiSettings, "apex": ApexSettings, "optim": OptimSettings}


@dataclasses.dataclass(frozen=True)
class Hparams:
    """What the step reads, static (hashable: part of the traced graph, not of the checkpoint)."""

    mi: MiSettings
    apex: ApexSettings
    seed: int


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
    """Model, CLUB estimator and their two optimizers over disjoint parameters, as one NNX graph.

    Reads the parsed ``model``, ``mi``, ``apex``, ``optim`` sections (their dataclasses hold every
    default) and the trainer's ``seed``, ``total_steps``, ``num_classes`` (``run.train``).
    """

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        s = run.sections
        m, mi, apex = s["model"], s["mi"], s["apex"]
        self.hparams = Hparams(mi, apex, run.train.seed)
        dtype, feature_dim = DTYPES[m.dtype], int(m.feature_dim)
        encoder = ExpressionEncoder(m.encoder, m.width, feature_dim, use_mv=bool(m.use_mv), mv_arch=m.mv_encoder,
                                    mv_width=m.mv_width, stem=m.stem, dtype=dtype, rngs=rngs)
        apex_branch = (ApexBranch(m.encoder, m.width, feature_dim, m.stem, dtype=dtype, rngs=rngs)
                       if apex.enabled else None)
        self.net = MiFerNet(run.train.num_classes, encoder, apex_branch, rngs=rngs)
        self.estimator = ClubEstimator(feature_dim, int(mi.identity_dim), hidden=int(mi.hidden),
                                       logvar_bound=float(mi.logvar_bound), rngs=rngs)
        if mi.penalty == "refit" and mi.refit_memory > 0:
            self.memory = CriticMemory(int(mi.refit_memory), feature_dim, int(mi.identity_dim))
        else:
            self.memory = None
        total = run.train.total_steps
        self.encoder_opt = nnx.Optimizer(self.net, make_tx(s["optim"], total), wrt=nnx.Param)
        self.estimator_opt = nnx.Optimizer(
            self.estimator, make_tx(mi.optim, total * int(mi.estimator_steps)), wrt=nnx.Param)


# --- the two phases -------------------------------------------------------------------------


def _mask(batch: dict) -> jax.Array:
    return batch["mask"].astype(jnp.float32) if "mask" in batch else jnp.ones(batch["label"].shape[0], jnp.float32)


def _identity(state: MiFerState, batch: dict) -> jax.Array:
    z_id = batch["identity_embedding"]
    if z_id.shape[-1] != state.hparams.mi.identity_dim:
        raise ValueError(
            f"identity_embedding has {z_id.shape[-1]} dims but the estimator was built for "
            f"mi.identity_dim={state.hparams.mi.identity_dim}; set mi.identity_dim to the dataset's backbone dim"
        )
    z_id = z_id.astype(jnp.float32)
    if state.hparams.mi.identity_norm == "sphere":
        z_id = z_id * jnp.sqrt(z_id.shape[-1] / (jnp.sum(z_id * z_id, axis=-1, keepdims=True) + 1e-12))
    return z_id


def _vclub_key(hp: Hparams, step: jax.Array, salt: int) -> jax.Array | None:
    if hp.mi.estimator != "vclub":
        return None
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(hp.seed), step), salt)


def estimator_phase(state: MiFerState, batch: dict, step: jax.Array) -> jax.Array:
    """Phase 1: ``mi.estimator_steps`` updates of the estimator only. Returns the last step's loss."""
    _, z = state.net(batch["residuals"], batch.get("motion_vectors"))
    z = jax.lax.stop_gradient(_critic_view(z, state.hparams))
    z_id, mask = _identity(state, batch), _mask(batch)
    loss = jnp.zeros((), jnp.float32)
    for _ in range(int(state.hparams.mi.estimator_steps)):
        loss, grads = nnx.value_and_grad(estimator_loss)(state.estimator, z, z_id, mask)
        guarded_update(state.estimator, state.estimator_opt, loss, grads)
    return loss


def _encoder_loss(net: MiFerNet, estimator: ClubEstimator, batch: dict, z_id, mask, lam, hp: Hparams, key,
                  memory: tuple[jax.Array, jax.Array, jax.Array] | None = None):
    logits, z = net(batch["residuals"], batch.get("motion_vectors"))
    n = jnp.maximum(mask.sum(), 1.0)
    ce = jnp.sum(mask * optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])) / n
    zc = _critic_view(z, hp)
    club = club_estimate(estimator, zc, z_id, mask, hp.mi.estimator, key)
    if hp.mi.penalty == "abs_dims":
        penalty = jnp.sum(jnp.abs(club_per_dimension(estimator, zc, z_id, mask)))
    elif hp.mi.penalty == "refit":
        x, y, m = zc, z_id, mask
        if memory is not None:  # fit on this batch + the remembered rows (held fixed)
            x, y, m = (jnp.concatenate([a, b]) for a, b in zip((x, y, m), memory))
        penalty = jnp.maximum(refit_linear_club(x, y, m, hp.mi.refit_ridge), 0.0)
    else:
        penalty = jnp.maximum(club, 0.0) if hp.mi.clip_negative else club
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
        w_n = jnp.maximum(w.sum(), 1.0)
        apex_ce, agree = jnp.sum(w * apex_ce) / w_n, jnp.sum(w * agree) / w_n
        apex_loss = apex_ce + hp.apex.agreement_weight * agree
        total = total + hp.apex.weight * apex_loss
        # Its two parts apart: the apex branch's own CE (is the still-image teacher learning?) and the
        # KL pulling the residual posterior towards it (is the student following?).
        aux.update({"loss/apex": apex_loss, "loss/apex_ce": apex_ce, "loss/apex_agree": agree})
    return total, aux


def _critic_view(z: jax.Array, hp: Hparams) -> jax.Array:
    """What the estimator sees of z_exp: as is, or L2-normalised (``mi.critic_input='unit'``)."""
    return _unit(z) if hp.mi.critic_input == "unit" else z


def _unit(z: jax.Array) -> jax.Array:
    return z / jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True) + 1e-12)


def encoder_phase(state: MiFerState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
    """Phase 2: one update of encoder + classifier (+ apex branch) with the estimator frozen."""
    hp = state.hparams
    lam = hp.mi.weight_at(step)
    grad_fn = nnx.value_and_grad(_encoder_loss, has_aux=True)
    z_id, mask = _identity(state, batch), _mask(batch)
    memory = None if state.memory is None else (state.memory.x[...], state.memory.y[...], state.memory.valid[...])
    (loss, aux), grads = grad_fn(state.net, state.estimator, batch, z_id, mask, lam, hp,
                                 _vclub_key(hp, step, 1 << 20), memory)
    ok = guarded_update(state.net, state.encoder_opt, loss, grads)
    z = aux.pop("z")
    if state.memory is not None:
        z, z_id, mask = (jnp.where(ok, a, 0.0) for a in (z, z_id, mask))  # a rejected step leaves no NaN rows
        state.memory.push(z, z_id, mask)
    return {"loss/encoder": loss, "mi/weight": lam, **aux}


class MiFer(MethodBase):
    """The ``mi_fer`` Method (see ``fer_jax.core.method.Method``)."""

    name = "mi_fer"
    settings = SETTINGS
    evaluators = ("classification",)

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        """Residuals (+ motion vectors) of K segments, the I-frame's identity embedding, the apex frame
        when the apex constraint is on, the label, and the subject (for the identity audit)."""
        s, k, mi = run.input.size, run.input.segments, run.sections["mi"]
        spec = {"residuals": Feature((k, s, s, 3)), "motion_vectors": Feature((k, s // 4, s // 4, 2)),
                "identity_embedding": Feature((int(mi.identity_dim),), role="embedding"),
                "label": Feature((), "int32", "label"), "identity": Feature((), "int32", "identity")}
        if run.sections["apex"].enabled:
            spec["apex_frame"] = Feature((s, s, 3), role="identity_signal")
            spec["has_apex"] = Feature((), role="weight")
        return spec

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        """Residual-only: no I-frame, no identity network at inference (motion vectors if trained with)."""
        inp = run.input
        s, k = inp.size, inp.segments
        inputs = {"residuals": Feature((k, s, s, 3))}
        if run.sections["model"].use_mv:
            inputs["motion_vectors"] = Feature((k, s // 4, s // 4, 2))
        return ServingSpec(inputs, "compressed", "probabilities", run.train.class_names,
                           {"size": s, "segments": k, "gop": inp.gop, "mode": inp.mode})

    def serve(self, predictor: ExpressionClassifier, inputs: dict) -> jax.Array:
        logits, _ = predictor(inputs["residuals"], inputs.get("motion_vectors"))
        return jax.nn.softmax(logits, axis=-1)

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> MiFerState:
        """The training state, from the run's parsed sections (:data:`SETTINGS`)."""
        return MiFerState(run, rngs)

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
