"""TFDS builder: see ``builder.SynthFace``."""

from data_pipelines.synthface_tfds.builder import SynthFace

__all__ = ["SynthFace"]
