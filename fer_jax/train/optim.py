"""Optimizers from config, built from optax's own schedules and transforms.

``config.optim``: ``name`` (adamw | sgd), ``lr``, ``weight_decay``, ``momentum`` (sgd),
``schedule`` (cosine | constant | step), ``warmup_steps``, ``step_every``/``step_factor`` (step),
``grad_clip`` (0 = off).
"""

from __future__ import annotations

import ml_collections
import optax


def make_schedule(cfg: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    lr = float(cfg.lr)
    warmup = int(cfg.get("warmup_steps", 0))
    kind = cfg.get("schedule", "cosine")
    if kind == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(total_steps, warmup + 1))
    if kind == "constant":
        return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup]) if warmup else optax.constant_schedule(lr)
    if kind == "step":
        every = int(cfg.get("step_every", max(total_steps // 3, 1)))
        boundaries = {b: float(cfg.get("step_factor", 0.1)) for b in range(every, total_steps, every)}
        return optax.piecewise_constant_schedule(lr, boundaries)
    raise ValueError(f"unknown schedule {kind!r}")


def make_tx(cfg: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    """The gradient transformation described by ``cfg`` (one per parameter group)."""
    schedule = make_schedule(cfg, total_steps)
    name = cfg.get("name", "adamw")
    if name == "adamw":
        tx = optax.adamw(schedule, weight_decay=float(cfg.get("weight_decay", 0.0)))
    elif name == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(float(cfg.get("weight_decay", 0.0))),
            optax.sgd(schedule, momentum=float(cfg.get("momentum", 0.9))),
        )
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    clip = float(cfg.get("grad_clip", 0.0))
    return optax.chain(optax.clip_by_global_norm(clip), tx) if clip > 0 else tx
