"""TFDS builder: see ``builder.Dfew``."""

from data_pipelines.dfew.builder import Dfew

__all__ = ["Dfew"]
