"""MI-FER's config sections (``model``, ``mi``, ``apex``; ``optim`` is ``fer_jax.train.optim.OptimSettings``)
as settings dataclasses: the only home of their defaults and of the checks on their values.

Built with ``fer_jax.core.settings.build(cls, config.<section>, "<section>")``, so an unknown key
(``c.mi.wieght = 0``) is a ``ConfigError`` naming it. The defaults are the full-size experiment
(ResNet-18 on residuals + motion vectors, CLUB game with the refit penalty, λ = 0.1 from step 1000):
``configs/mi_fer/common.py:base_config`` writes its sections from these classes and restates none of them. Why each
choice was made is in ``method.py``'s docstring, what it measured in ``README.md``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from fer_jax.core.settings import ConfigError
from fer_jax.train.optim import OptimSettings

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _one_of(where: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {allowed}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """``config.model``: the residual encoder ``encoder`` (``tiny`` | ``resnet18`` | ...; ``width`` channels
    of its first stage, None = the arch's own), ``stem`` (``imagenet`` | ``small``), the optional
    motion-vector stream (``use_mv``, ``mv_encoder``, ``mv_width``), z_exp's ``feature_dim`` and the
    compute ``dtype`` (parameters stay float32)."""

    encoder: str = "resnet18"
    width: int | None = 64
    use_mv: bool = True
    mv_encoder: str = "tiny"
    mv_width: int | None = 16
    feature_dim: int = 128
    stem: str = "imagenet"
    dtype: str = "float32"

    def __post_init__(self):
        _one_of("model.dtype", self.dtype, tuple(DTYPES))
        _one_of("model.stem", self.stem, ("imagenet", "small"))
        if self.feature_dim < 1:
            raise ConfigError(f"model.feature_dim must be >= 1, got {self.feature_dim}")


@dataclasses.dataclass(frozen=True)
class MiSettings:
    """``config.mi``: the min-min game.

    λ schedule (``weight``, ``start_step``, ``warmup_steps``); the estimator (``estimator`` club | vclub,
    ``estimator_steps`` per encoder step, MLP ``hidden`` width (0 = linear-Gaussian), ``logvar_bound``,
    its own ``optim``); the identity side (``identity_dim`` of the backbone's embedding,
    ``identity_norm`` sphere | none); the encoder's penalty (``penalty`` club | abs_dims | refit,
    ``clip_negative``, ``critic_input`` raw | unit, ``refit_ridge``, ``refit_memory`` rows).

    ``optim`` given as a section is built from :class:`OptimSettings`' own defaults (keys it leaves
    out take those, not this field's default).
    """

    weight: float = 0.1
    start_step: int = 1_000
    warmup_steps: int = 2_000
    estimator: str = "club"
    estimator_steps: int = 2
    hidden: int = 256
    logvar_bound: float = 5.0
    identity_dim: int = 128
    identity_norm: str = "sphere"
    penalty: str = "refit"
    clip_negative: bool = True
    critic_input: str = "raw"
    refit_ridge: float = 1.0
    refit_memory: int = 128
    optim: OptimSettings = OptimSettings(weight_decay=0.0, schedule="constant", warmup_steps=0, grad_clip=0.0)

    def __post_init__(self):
        _one_of("mi.estimator", self.estimator, ("club", "vclub"))
        _one_of("mi.critic_input", self.critic_input, ("raw", "unit"))
        _one_of("mi.penalty", self.penalty, ("club", "abs_dims", "refit"))
        _one_of("mi.identity_norm", self.identity_norm, ("sphere", "none"))
        if self.estimator_steps < 1:
            raise ConfigError(f"mi.estimator_steps must be >= 1, got {self.estimator_steps}")
        for key in ("start_step", "warmup_steps", "hidden", "refit_memory"):
            if getattr(self, key) < 0:
                raise ConfigError(f"mi.{key} must be >= 0, got {getattr(self, key)}")
        if self.identity_dim < 1:
            raise ConfigError(f"mi.identity_dim must be >= 1, got {self.identity_dim}")

    def weight_at(self, step: jax.Array) -> jax.Array:
        """λ(step): 0 before ``start_step``, then a linear ramp to ``weight`` over ``warmup_steps``."""
        t = jnp.asarray(step, jnp.float32) - self.start_step
        ramp = jnp.clip(t / self.warmup_steps, 0.0, 1.0) if self.warmup_steps > 0 else (t >= 0).astype(jnp.float32)
        return self.weight * ramp


@dataclasses.dataclass(frozen=True)
class ApexSettings:
    """``config.apex``: the training-only apex-frame branch (``enabled``), its loss ``weight`` and the
    weight of the KL pulling the residual posterior towards the apex one (``agreement_weight``)."""

    enabled: bool = False
    weight: float = 0.5
    agreement_weight: float = 1.0
