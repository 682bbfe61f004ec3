"""The ``stylegan2`` method's config sections: ``model`` (the networks) and ``gan`` (losses, regularisers,
optimizers, EMA). Built with ``fer_jax.core.settings.build``: an unknown key is a ``ConfigError``.

Defaults are rosinality's ``train.py`` for a 256 px generator (config F widths, R1 γ = 10 every 16
steps, path length weight 2 every 4 steps on half the batch, style mixing 0.9, Adam(0, 0.99) at lr
0.002, EMA half-life 10 k images). Why each differs from the paper, where it does: ``method.py``.
"""

from __future__ import annotations

import dataclasses

from fer_jax.core.settings import ConfigError
from fer_jax.models.stylegan2.generator import check_size


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """``config.model``: generator and discriminator size (``input.size`` must equal it), W dimension
    ``style_dim``, mapping depth ``n_mlp`` and its ``lr_mlp``, widths ``min(channel_max, 16384 ·
    channel_multiplier / resolution)`` for both networks."""

    size: int = 256
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: float = 2.0
    channel_max: int = 512
    lr_mlp: float = 0.01

    def __post_init__(self):
        try:
            check_size(self.size)
        except ValueError as e:
            raise ConfigError(f"model.size: {e}") from None
        if self.size < 8:
            raise ConfigError(f"model.size must be >= 8, got {self.size}")
        for key in ("style_dim", "n_mlp", "channel_max"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.channel_multiplier <= 0 or self.lr_mlp <= 0:
            raise ConfigError("model.channel_multiplier and model.lr_mlp must be > 0")


@dataclasses.dataclass(frozen=True)
class GanSettings:
    """``config.gan``: the batch key holding the training images in [0, 1] (``image_key``: ``apex_frame``
    for SynthFace/video builds, ``image`` for still-image builds), horizontal ``flip`` of real images,
    Adam (``lr``, ``beta1``, ``beta2``; scaled for lazy regularisation as in the paper), R1 weight ``r1``
    every ``d_reg_every`` steps, path-length weight ``path_regularize`` every ``g_reg_every`` steps on
    ``batch // path_batch_shrink`` examples with running-mean ``path_decay``, style ``mixing``
    probability, and the EMA generator's half-life ``ema_kimg`` (thousands of images). A weight of 0
    or an interval of 0 turns a regulariser off."""

    image_key: str = "apex_frame"
    flip: bool = True
    lr: float = 0.002
    beta1: float = 0.0
    beta2: float = 0.99
    r1: float = 10.0
    d_reg_every: int = 16
    path_regularize: float = 2.0
    g_reg_every: int = 4
    path_batch_shrink: int = 2
    path_decay: float = 0.01
    mixing: float = 0.9
    ema_kimg: float = 10.0

    def __post_init__(self):
        if self.image_key not in ("apex_frame", "image", "iframe"):
            raise ConfigError(f"gan.image_key must be apex_frame, image or iframe, got {self.image_key!r}")
        for key in ("lr", "r1", "path_regularize", "path_decay", "ema_kimg"):
            if getattr(self, key) < 0:
                raise ConfigError(f"gan.{key} must be >= 0, got {getattr(self, key)}")
        for key in ("d_reg_every", "g_reg_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"gan.{key} must be >= 0, got {getattr(self, key)}")
        if self.path_batch_shrink < 1:
            raise ConfigError(f"gan.path_batch_shrink must be >= 1, got {self.path_batch_shrink}")
        if not 0 <= self.mixing <= 1:
            raise ConfigError(f"gan.mixing must be in [0, 1], got {self.mixing}")

    @property
    def use_r1(self) -> bool:
        return self.r1 > 0 and self.d_reg_every > 0

    @property
    def use_path(self) -> bool:
        return self.path_regularize > 0 and self.g_reg_every > 0

    def adam(self, reg_every: int, used: bool) -> tuple[float, float, float]:
        """(lr, beta1, beta2) of one network: with lazy regularisation every k steps the paper scales
        lr by c = k / (k + 1) and the betas to the power c, so the effective step is unchanged."""
        c = reg_every / (reg_every + 1) if used else 1.0
        return self.lr * c, self.beta1 ** c, self.beta2 ** c
