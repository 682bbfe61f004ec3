"""TFDS builder: see ``builder.OuluCasia``."""

from data_pipelines.oulu_casia.builder import OuluCasia

__all__ = ["OuluCasia"]
