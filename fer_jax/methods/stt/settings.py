"""STT's config sections (``model``, ``compact``; ``optim`` is ``fer_jax.train.optim.OptimSettings``) as
settings dataclasses: the only home of their defaults and of the checks on their values.

The ``model`` defaults are the paper-size network of docs/methods.md §2 (ResNet-18 to layer3 on 112² frames,
width 512, 8 heads, 4 blocks, MLP 4×); ``configs/stt/common.py`` states the same values so an
experiment reads top to bottom. Why each choice: ``model.py`` and ``method.py``; measurements:
``README.md``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from fer_jax.core.settings import ConfigError
from fer_jax.methods.stt.transformer import IMPLEMENTATIONS

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _one_of(where: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {allowed}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """``config.model``: the tokeniser (``backbone`` arch, its first-stage ``backbone_width``, ``stem``),
    the transformer (``width``, ``depth`` blocks, ``heads``, ``mlp_ratio``, ``dropout``), what it reads
    (``tokens``: ``frames`` = decoded RGB, ``compressed`` = I-frame + accumulated residuals), the
    attention kernel (``attention``: auto | xla | cudnn) and the compute ``dtype`` (parameters and the
    optimizer stay float32: bf16 compute with fp32 master weights)."""

    backbone: str = "resnet18"
    backbone_width: int | None = 64
    stem: str = "imagenet"
    width: int = 512
    depth: int = 4
    heads: int = 8
    mlp_ratio: int = 4
    dropout: float = 0.1
    tokens: str = "frames"
    attention: str = "auto"
    dtype: str = "float32"

    def __post_init__(self):
        _one_of("model.dtype", self.dtype, tuple(DTYPES))
        _one_of("model.stem", self.stem, ("imagenet", "small"))
        _one_of("model.tokens", self.tokens, ("frames", "compressed"))
        _one_of("model.attention", self.attention, IMPLEMENTATIONS)
        if min(self.width, self.depth, self.heads, self.mlp_ratio) < 1:
            raise ConfigError("model.width, depth, heads and mlp_ratio must be >= 1")
        if self.width % self.heads:
            raise ConfigError(f"model.width ({self.width}) must be a multiple of model.heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass(frozen=True)
class CompactSettings:
    """``config.compact``: the compact softmax cross-entropy, CE + λ · intra / (inter + ``eps``) with class
    centres tracked by an EMA of ``momentum``. λ is 0 until the classes have begun to separate: the first
    step at which an EMA (``gate_momentum``) of the batch CE, started at chance (ln C), is below ``gate`` ·
    ln C. From that step λ ramps linearly to ``weight`` over ``ramp`` of the run, and stays on (``weight``
    0 = plain CE, the ablation; the centres are still tracked and the ratio logged).

    Why a gate on progress, not a fixed step: while CE sits on its plateau every clip gives nearly the
    same feature (spread 0.06 against a norm of 7.8 on SynthFace's lab split), and the EMA centres lag the
    features, so the ratio is lowered fastest by shrinking the features: intra falls at once, inter slowly.
    Switched on at a fixed 25 % of the run, before CE had left ln C, it collapsed the features and pinned
    CE at ln 7 for good (README). Why λ = 0.05 (the paper gives none): the ratio's gradient scales as
    1 / inter, so at λ = 0.5 it fills the clipped update and CE stops moving while the features cluster
    by an unread direction; at 0.05 CE fits as fast as without the term (README sweep). ``gate`` ≥ 1
    switches the term on at step 0 (the tests' setting)."""

    weight: float = 0.05
    momentum: float = 0.9
    eps: float = 1e-6
    gate: float = 0.9
    gate_momentum: float = 0.9
    ramp: float = 0.25

    def switched_on(self, on_step: jax.Array, ce_ema: jax.Array, step: jax.Array, num_classes: int) -> jax.Array:
        """The step the term switched on (-1: not yet), given the state before update ``step`` (0-based)."""
        due = (on_step < 0) & (ce_ema < self.gate * math.log(max(num_classes, 2)))
        return jnp.where(due, jnp.asarray(step, jnp.float32), on_step)

    def weight_at(self, step: jax.Array, on_step: jax.Array, total_steps: int) -> jax.Array:
        """λ at update ``step`` of a ``total_steps`` run whose term switched on at ``on_step`` (-1: off)."""
        t = (jnp.asarray(step, jnp.float32) - on_step) / max(total_steps, 1)
        ramp = jnp.clip(t / self.ramp, 0.0, 1.0) if self.ramp > 0 else jnp.ones_like(t)
        return jnp.where(on_step >= 0, self.weight * ramp, 0.0)

    def __post_init__(self):
        if self.weight < 0:
            raise ConfigError(f"compact.weight must be >= 0, got {self.weight}")
        for name in ("momentum", "gate_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"compact.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.eps <= 0:
            raise ConfigError(f"compact.eps must be > 0, got {self.eps}")
        if self.gate <= 0:
            raise ConfigError(f"compact.gate is a fraction of ln C and must be > 0, got {self.gate}")
        if not 0.0 <= self.ramp <= 1.0:
            raise ConfigError(f"compact.ramp is a fraction of the run, got {self.ramp}")
