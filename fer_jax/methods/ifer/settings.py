"""The ``ifer`` method's config sections; built with ``fer_jax.core.settings.build`` (an unknown key is a ``ConfigError``).

* ``ifer``: which stage this run is (``inversion`` | ``fer``) and the batch key of the images;
* ``model``: the ASIT encoder (GC ViT preset and overrides, FPN width) and the FER head;
* ``decoder``: the StyleGAN2 generator's architecture (``fer_jax.methods.stylegan2.settings.ModelSettings``:
  it must equal the run that ``init_from`` loads the frozen decoder from, and fixes the encoder's output
  shapes in both stages);
* ``inversion``: loss weights (the paper's: L2 1.0, LPIPS 0.8, identity 0.1, adversarial 1e-4, alignment
  0.01), the frozen identity encoder, the inversion discriminator;
* ``fer``: the classification stage (label smoothing, mixup/cutmix, fine-tuning or head only);
* ``optim`` (encoder in ``inversion``, classifier in ``fer``) and ``disc_optim`` (the inversion
  discriminator): ``fer_jax.train.optim.OptimSettings``.
"""

from __future__ import annotations

import dataclasses

from fer_jax.core.settings import ConfigError
from fer_jax.methods.ifer.gcvit import PRESETS, GcVitConfig
from fer_jax.methods.ifer.model import MAP2STYLE
from fer_jax.methods.stylegan2.settings import ModelSettings as DecoderSettings

__all__ = ["DecoderSettings", "FerSettings", "IferSettings", "InversionSettings", "ModelSettings"]

STAGES = ("inversion", "fer")
HEADS = ("modulation", "linear")
IMAGE_KEYS = ("image", "apex_frame", "iframe")
ALIGN_TARGETS = ("random_z", "reconstruction")


def _positive(obj, section: str, *keys: str) -> None:
    for key in keys:
        if getattr(obj, key) < 0:
            raise ConfigError(f"{section}.{key} must be >= 0, got {getattr(obj, key)}")


@dataclasses.dataclass(frozen=True)
class IferSettings:
    """``config.ifer``: ``stage`` (``inversion`` trains the encoder against the frozen decoder; ``fer``
    trains the classifier on the encoder's codes) and ``image_key`` (``image`` for still-image builds
    and in-memory stills, ``apex_frame`` for SynthFace video builds)."""

    stage: str = "inversion"
    image_key: str = "image"

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ConfigError(f"ifer.stage must be one of {STAGES}, got {self.stage!r}")
        if self.image_key not in IMAGE_KEYS:
            raise ConfigError(f"ifer.image_key must be one of {IMAGE_KEYS}, got {self.image_key!r}")


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """``config.model``: the GC ViT ``preset`` (``base``: the paper's; ``cpu``) with optional overrides
    (0 / empty = the preset's value), the FPN and map2style width ``fpn_dim`` (the paper: 512), the FER
    ``head`` (``modulation``: the paper's; ``linear``: a linear layer on the mean code, ablation a),
    the modulation head's width ``head_width`` (0 = the structure code's channels), GC ViT's stochastic
    depth ``drop_path`` (the released encoder's 0.2, both stages) and ``map2style`` (``attention``: the
    released blocks with window attention; ``conv``: pSp's stride-2 convs)."""

    preset: str = "base"
    dim: int = 0
    depths: tuple[int, ...] = ()
    heads: tuple[int, ...] = ()
    windows: tuple[int, ...] = ()
    mlp_ratio: float = 0.0
    stem_stride: int = 0
    fpn_dim: int = 512
    head: str = "modulation"
    head_width: int = 0
    drop_path: float = 0.2
    map2style: str = "attention"

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ConfigError(f"model.preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if self.head not in HEADS:
            raise ConfigError(f"model.head must be one of {HEADS}, got {self.head!r}")
        if self.map2style not in MAP2STYLE:
            raise ConfigError(f"model.map2style must be one of {MAP2STYLE}, got {self.map2style!r}")
        for key in ("depths", "heads", "windows"):  # JSON gives lists; the settings are hashed as static
            object.__setattr__(self, key, tuple(int(v) for v in getattr(self, key)))
        _positive(self, "model", "dim", "mlp_ratio", "stem_stride", "fpn_dim", "head_width")
        try:
            self.gcvit()
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None

    def gcvit(self) -> GcVitConfig:
        base = PRESETS[self.preset]
        return GcVitConfig(dim=self.dim or base.dim, depths=self.depths or base.depths, heads=self.heads or base.heads,
                           windows=self.windows or base.windows, mlp_ratio=self.mlp_ratio or base.mlp_ratio,
                           stem_stride=self.stem_stride or base.stem_stride, drop_path=self.drop_path)


@dataclasses.dataclass(frozen=True)
class InversionSettings:
    """``config.inversion``: loss weights ``l2``, ``lpips``, ``identity``, ``adversarial``, ``alignment``;
    ``identity_encoder``: a ``fer_jax.identity.pretrain`` checkpoint directory (``""``: no identity term,
    its weight must then be 0; ``"random"``: a tiny random network, smoke runs and tests only);
    ``random_decoder``: allow a run without an ``init_from`` entry for ``decoder`` (its random
    initialisation; smoke runs and tests only); ``lpips_min_size``: images are resized up to this before
    LPIPS (AlexNet's receptive fields outgrow 32 px images); ``align_target``: the decoder features the
    encoder's feature branches are aligned with (``random_z``: of a batch of random-z generations, the
    released ``decoder([noise])``, a distribution prior; ``reconstruction``: of the reconstructions x̂, a
    per-image match); ``align_temperature``: of the alignment loss's softmax (1: the release's plain
    softmax over cosines); ``disc_embed``: the inversion discriminator's embedding; ``key_momentum``: its EMA
    key network; ``latent_avg_samples``: z samples averaged for the decoder's mean latent."""

    l2: float = 1.0
    lpips: float = 0.8
    identity: float = 0.1
    adversarial: float = 1e-4
    alignment: float = 0.01
    identity_encoder: str = ""
    random_decoder: bool = False
    lpips_min_size: int = 64
    align_target: str = "random_z"
    align_temperature: float = 1.0
    disc_embed: int = 128
    key_momentum: float = 0.999
    latent_avg_samples: int = 4096

    def __post_init__(self):
        _positive(self, "inversion", "l2", "lpips", "identity", "adversarial", "alignment", "lpips_min_size")
        if self.align_temperature <= 0 or self.disc_embed < 1 or self.latent_avg_samples < 1:
            raise ConfigError("inversion.align_temperature must be > 0, disc_embed and latent_avg_samples >= 1")
        if self.align_target not in ALIGN_TARGETS:
            raise ConfigError(f"inversion.align_target must be one of {ALIGN_TARGETS}, got {self.align_target!r}")
        if not 0 <= self.key_momentum < 1:
            raise ConfigError(f"inversion.key_momentum must be in [0, 1), got {self.key_momentum}")


@dataclasses.dataclass(frozen=True)
class FerSettings:
    """``config.fer``: ``finetune`` (train the encoder with the head; False: the head only, on frozen
    codes), ``label_smoothing``, ``color_jitter`` (the released 0.4: brightness, contrast, saturation);
    per batch with probability ``mix_prob`` either mixup (Beta(``mixup``))
    or, with probability ``switch_prob`` when both are on, cutmix (Beta(``cutmix``)); an alpha of 0 turns
    that one off (timm's ``Mixup`` in batch mode)."""

    finetune: bool = True
    label_smoothing: float = 0.1
    color_jitter: float = 0.4
    mixup: float = 0.0
    cutmix: float = 1.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5

    def __post_init__(self):
        _positive(self, "fer", "mixup", "cutmix", "color_jitter")
        for key in ("label_smoothing", "mix_prob", "switch_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"fer.{key} must be in [0, 1], got {getattr(self, key)}")
