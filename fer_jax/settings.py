"""Config sections -> settings dataclasses: one home for every default, unknown keys are errors.

A config file (``configs/...``) states an experiment; the defaults of every field live in the
dataclass of the part that reads it (the trainer's :class:`TrainSettings`, a method's sections, the
input pipeline's ``InputSettings``). ``build(cls, section, where)`` makes the dataclass from a config
section and raises :class:`ConfigError` naming the full dotted key and the known ones when the
section holds a key the dataclass lacks: ``c.mi.wieght = 0`` stops the run instead of being ignored.

The implementation lives in ``data_pipelines.settings`` (the bottom layer: the input pipeline, which
may import nothing from fer_jax, needs it too); this module is fer_jax's name for it.
"""

from __future__ import annotations

from data_pipelines.settings import ConfigError, build, check_keys, plain, unknown_key_error

__all__ = ["ConfigError", "build", "check_keys", "plain", "unknown_key_error"]
