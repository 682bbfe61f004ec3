"""TFDS builder: see ``builder.CkPlus``."""

from data_pipelines.ckplus.builder import CkPlus

__all__ = ["CkPlus"]
