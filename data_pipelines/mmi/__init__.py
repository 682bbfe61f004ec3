"""TFDS builder: see ``builder.Mmi``."""

from data_pipelines.mmi.builder import Mmi

__all__ = ["Mmi"]
