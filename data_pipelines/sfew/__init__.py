"""TFDS builder: see ``builder.Sfew``."""

from data_pipelines.sfew.builder import Sfew

__all__ = ["Sfew"]
