"""StyleGAN2 (generator, discriminator, ops) in Flax NNX, and the converter of rosinality checkpoints."""

from fer_jax.models.stylegan2.discriminator import Discriminator
from fer_jax.models.stylegan2.generator import Generator, channel_table

__all__ = ["Discriminator", "Generator", "channel_table"]
