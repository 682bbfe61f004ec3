"""TFDS builder: see ``builder.Disfa``."""

from data_pipelines.disfa.builder import Disfa

__all__ = ["Disfa"]
