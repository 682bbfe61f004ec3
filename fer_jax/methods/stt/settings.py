"""STT's config sections (``model``, ``compact``; ``optim`` is ``fer_jax.train.optim.OptimSettings``) as
settings dataclasses: the only home of their defaults and of the checks on their values.

The ``model`` defaults are the paper-size network of docs/methods.md §2 (ResNet-18 to layer3 on 112² frames,
width 512, 8 heads, 4 blocks, MLP 4×); ``configs/stt/common.py`` states the same values so an
experiment reads top to bottom. Why each choice: ``model.py`` and ``method.py``; measurements:
``README.md``.
"""

from __future__ import annotations

import dataclasses

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
    """``config.compact``: the compact softmax cross-entropy, CE + λ(step) · intra / (inter + ``eps``)
    with class centres tracked by an EMA of ``momentum``. λ is 0 for the first ``start`` fraction of the
    run, then ramps linearly to ``weight`` over the next ``ramp`` fraction (``weight`` 0 = plain CE, the
    ablation; the centres are still tracked and the ratio logged).

    Why the delay: at initialisation all clips give nearly the same feature, inter ≈ 0 and the ratio is
    in the tens, so from step 0 it drowns the CE that has to separate the classes first. Fractions, not
    steps, so one default fits every dataset's schedule. Why λ = 0.05 (the paper gives none): the ratio's
    gradient scales as 1 / inter, so at λ = 0.5 it fills the clipped update and CE stops moving while the
    features cluster by an unread direction; at 0.05 CE fits as fast as without the term (README sweep)."""

    weight: float = 0.05
    momentum: float = 0.9
    eps: float = 1e-6
    start: float = 0.25
    ramp: float = 0.25

    def weight_at(self, step: jax.Array, total_steps: int) -> jax.Array:
        """λ at update ``step`` (0-based) of a ``total_steps`` run."""
        t = jnp.asarray(step, jnp.float32) / max(total_steps, 1) - self.start
        ramp = jnp.clip(t / self.ramp, 0.0, 1.0) if self.ramp > 0 else (t >= 0).astype(jnp.float32)
        return self.weight * ramp

    def __post_init__(self):
        if self.weight < 0:
            raise ConfigError(f"compact.weight must be >= 0, got {self.weight}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"compact.momentum must be in [0, 1), got {self.momentum}")
        if self.eps <= 0:
            raise ConfigError(f"compact.eps must be > 0, got {self.eps}")
        if not (0.0 <= self.start <= 1.0 and 0.0 <= self.ramp <= 1.0):
            raise ConfigError(f"compact.start and compact.ramp are fractions of the run, got {self.start}, "
                              f"{self.ramp}")
