"""TFDS builder: see ``builder.AffectNet``."""

from data_pipelines.affectnet.builder import AffectNet

__all__ = ["AffectNet"]
