"""TFDS builder: see ``builder.Afew``."""

from data_pipelines.afew.builder import Afew

__all__ = ["Afew"]
