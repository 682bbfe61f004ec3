"""TFDS builder: see ``builder.RafDb``."""

from data_pipelines.rafdb.builder import RafDb

__all__ = ["RafDb"]
