"""TFDS builder: see ``builder.Bp4d``."""

from data_pipelines.bp4d.builder import Bp4d

__all__ = ["Bp4d"]
