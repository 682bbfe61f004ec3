"""Optimizers from config (``OptimSettings``), built from optax's own schedules and transforms, and the
non-finite guard every method's update goes through.

A method's optimizer section (``config.optim``; MI-FER's estimator has its own, ``config.mi.optim``)
is built with ``fer_jax.core.settings.build(OptimSettings, config.optim, "optim")``: the dataclass below
holds the only defaults, and an unknown key (``optim.lr_decay``) is a ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.settings import ConfigError

NAMES = ("adamw", "sgd", "ranger")
# Ranger's own constants (pSp's ``training/ranger.py``, which IFER's release trains its inversion with):
# RAdam with beta1 0.95, eps 1e-5, rectification threshold 5; Lookahead every 6 steps, slow step 0.5
RANGER = dict(b1=0.95, b2=0.999, eps=1e-5, threshold=5.0, sync_period=6, slow_step=0.5)
SCHEDULES = ("cosine", "constant", "step")


@dataclasses.dataclass(frozen=True)
class OptimSettings:
    """One optimizer: ``name`` (adamw | sgd | ranger = RAdam + Lookahead, :func:`ranger`), peak ``lr``,
    ``weight_decay`` (decoupled for adamw and sgd, added to the gradient for ranger), ``momentum`` (sgd),
    ``schedule`` (cosine to 0 | constant | step), linear ``warmup_steps`` from 0 (cosine, constant),
    ``step_every`` / ``step_factor`` (step: lr × factor every ``step_every`` steps; 0 = a third of the
    run), ``grad_clip`` (global-norm clip; 0 = off).

    The defaults are MI-FER's encoder optimizer (``configs/mi_fer/common.py``), the measured setting
    every method starts from.
    """

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int = 500
    step_every: int = 0
    step_factor: float = 0.1
    grad_clip: float = 1.0

    def __post_init__(self):
        if self.name not in NAMES:
            raise ConfigError(f"optim.name must be one of {NAMES}, got {self.name!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for key in ("lr", "weight_decay", "warmup_steps", "step_every", "grad_clip"):
            if getattr(self, key) < 0:
                raise ConfigError(f"optim.{key} must be >= 0, got {getattr(self, key)}")


def make_schedule(s: OptimSettings, total_steps: int) -> optax.Schedule:
    lr, warmup = float(s.lr), int(s.warmup_steps)
    if s.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(total_steps, warmup + 1))
    if s.schedule == "constant":
        if not warmup:
            return optax.constant_schedule(lr)
        return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
    every = int(s.step_every) or max(total_steps // 3, 1)
    return optax.piecewise_constant_schedule(lr, {b: float(s.step_factor) for b in range(every, total_steps, every)})


def make_tx(s: OptimSettings, total_steps: int) -> optax.GradientTransformation:
    """The gradient transformation ``s`` describes (one per parameter group)."""
    schedule = make_schedule(s, total_steps)
    if s.name == "adamw":
        tx = optax.adamw(schedule, weight_decay=float(s.weight_decay))
    elif s.name == "ranger":
        tx = ranger(schedule, float(s.weight_decay))
    else:
        tx = optax.chain(optax.add_decayed_weights(float(s.weight_decay)),
                         optax.sgd(schedule, momentum=float(s.momentum)))
    return optax.chain(optax.clip_by_global_norm(float(s.grad_clip)), tx) if s.grad_clip > 0 else tx


class LookaheadState(NamedTuple):
    slow: Any
    count: jax.Array


def lookahead(sync_period: int, slow_step: float) -> optax.GradientTransformation:
    """Lookahead (Zhang et al., 2019) over the fast optimizer chained before it, its slow weights kept in
    the optimizer state: every ``sync_period`` updates slow ← slow + α·(fast − slow) and the parameters
    jump to it. (``optax.lookahead`` keeps them in the parameters instead, which ``nnx.Optimizer``
    cannot hold.) Needs ``params`` in ``update``."""

    def init(params):
        return LookaheadState(jax.tree.map(lambda p: jnp.array(p, copy=True), params), jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("lookahead needs the parameters in update()")
        count = state.count + 1
        sync = count % sync_period == 0
        fast = optax.apply_updates(params, updates)
        synced = jax.tree.map(lambda s, f: s + slow_step * (f - s), state.slow, fast)
        out = jax.tree.map(lambda u, n, p: jnp.where(sync, n - p, u), updates, synced, params)
        slow = jax.tree.map(lambda s, n: jnp.where(sync, n, s), state.slow, synced)
        return out, LookaheadState(slow, count)

    return optax.GradientTransformation(init, update)


def ranger(schedule: optax.ScalarOrSchedule, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """Ranger = RAdam + Lookahead with the constants of ``RANGER`` (L2 ``weight_decay`` on the gradient)."""
    r = RANGER
    parts = [optax.add_decayed_weights(weight_decay)] if weight_decay else []
    parts += [optax.radam(schedule, b1=r["b1"], b2=r["b2"], eps=r["eps"], threshold=r["threshold"]),
              lookahead(int(r["sync_period"]), float(r["slow_step"]))]
    return optax.chain(*parts)


def guarded_update(module: nnx.Module, opt: nnx.Optimizer, loss: jax.Array, grads: Any) -> jax.Array:
    """``opt.update(module, grads)``, kept only if ``loss`` and every gradient are finite. Returns that flag.

    A bad batch then never corrupts the parameters or the optimizer state (both are restored with
    ``jnp.where``), and the non-finite ``loss/*`` metric lets the trainer stop and name the step.
    Hand-written rather than ``optax.apply_if_finite``: that checks only the gradients and keeps its
    decision inside the optimizer state, while here the loss is checked too and the caller gets the
    flag (MI-FER keeps a rejected step's rows out of its critic memory). The choice is one
    ``jax.lax.cond`` over the whole (parameters, optimizer state) tree rather than a ``jnp.where`` per
    leaf: the same values, but XLA:CPU compiled IFER's 238-leaf encoder update in 29 s instead of 209 s.
    """
    ok = jnp.isfinite(loss)
    for g in jax.tree.leaves(grads):
        ok &= jnp.all(jnp.isfinite(g))
    old = (nnx.as_pure(nnx.state(module, nnx.Param)), nnx.as_pure(nnx.state(opt)))
    opt.update(module, grads)
    new = (nnx.as_pure(nnx.state(module, nnx.Param)), nnx.as_pure(nnx.state(opt)))
    params, opt_state = jax.lax.cond(ok, lambda a, b: a, lambda a, b: b, new, old)
    nnx.update(module, params)
    nnx.update(opt, opt_state)
    return ok
