"""The AU methods' config sections as settings dataclasses: the only home of their defaults.

``model`` (both stages: the spatio-temporal backbone, and the stage-1 projection width), ``contrastive``
(stage 1: views, positives, temperature, augmentation), ``labels`` (stage 2: which frames' labels the
loss may read) and ``regressor`` (stage 2: loss and what trains). ``optim`` is the shared
``fer_jax.train.optim.OptimSettings``. Built with ``fer_jax.core.settings.build``: an unknown key or a bad
value is a ``ConfigError`` naming it. The defaults are the CPU-sized SynthFace setting of the method
README; why each choice was made is in ``contrastive.py`` / ``regressor.py``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from fer_jax.core.settings import ConfigError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
TEMPORAL = ("gru", "tcn")


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """``config.model``: per-frame CNN (``encoder`` ResNet arch, ``width``, ``stem``) projected to
    ``feature_dim``; ``temporal`` module (``gru`` | ``tcn``: ``tcn_layers`` residual 1-D convolutions of
    ``tcn_kernel`` with dilations 1, 2, 4, ...) of width ``hidden``; stage 1's projection head to
    ``proj_dim``; compute ``dtype`` (parameters stay float32)."""

    encoder: str = "tiny"
    width: int | None = 16
    stem: str = "small"
    feature_dim: int = 64
    temporal: str = "gru"
    hidden: int = 64
    tcn_kernel: int = 3
    tcn_layers: int = 2
    proj_dim: int = 64
    dtype: str = "float32"

    def __post_init__(self):
        if self.temporal not in TEMPORAL:
            raise ConfigError(f"model.temporal must be one of {TEMPORAL}, got {self.temporal!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.stem not in ("imagenet", "small"):
            raise ConfigError(f"model.stem must be 'imagenet' or 'small', got {self.stem!r}")
        for key in ("feature_dim", "hidden", "tcn_kernel", "tcn_layers", "proj_dim"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")


@dataclasses.dataclass(frozen=True)
class ContrastiveSettings:
    """``config.contrastive`` (stage 1): each window of ``input.window`` frames gives views of
    ``view_frames`` consecutive frames: two of the same sub-window, and (``max_shift`` > 0) one of a
    nearby sub-window 1..``max_shift`` frames away; all are positives of each other (multi-positive
    InfoNCE at ``temperature``), every view of another window a negative. Augmentation per view, the same
    on all its frames: horizontal ``flip``, ``brightness`` / ``contrast`` jitter, ``translate`` (fraction
    of the side), ``grayscale`` probability, Gaussian ``noise`` std."""

    view_frames: int = 8
    max_shift: int = 4
    temperature: float = 0.1
    flip: bool = True
    brightness: float = 0.2
    contrast: float = 0.3
    translate: float = 0.1
    grayscale: float = 0.2
    noise: float = 0.02

    def __post_init__(self):
        if self.view_frames < 1 or self.max_shift < 0:
            raise ConfigError(f"contrastive.view_frames must be >= 1 and max_shift >= 0, got "
                              f"{self.view_frames}, {self.max_shift}")
        if self.temperature <= 0:
            raise ConfigError(f"contrastive.temperature must be > 0, got {self.temperature}")
        if not 0 <= self.translate < 0.5 or not 0 <= self.grayscale <= 1:
            raise ConfigError("contrastive.translate must be in [0, 0.5) and grayscale in [0, 1]")


@dataclasses.dataclass(frozen=True)
class LabelSettings:
    """``config.labels`` (stage 2): frame t of clip c is labelled iff
    ``label_subset.frame_uniform(seed, clip_key(c), t) < fraction``: the same frames in every process,
    epoch, batch and resume, independent of the training ``seed`` (so seeds of a run share a subset
    unless ``labels.seed`` differs)."""

    fraction: float = 0.02
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"labels.fraction must be in (0, 1], got {self.fraction}")


@dataclasses.dataclass(frozen=True)
class RegressorSettings:
    """``config.regressor`` (stage 2): ``loss`` on the chosen frames (``mse`` | ``l1``), and
    ``freeze_cnn`` (the per-frame CNN is not updated; the temporal module and head still are)."""

    loss: str = "mse"
    freeze_cnn: bool = False

    def __post_init__(self):
        if self.loss not in ("mse", "l1"):
            raise ConfigError(f"regressor.loss must be 'mse' or 'l1', got {self.loss!r}")
