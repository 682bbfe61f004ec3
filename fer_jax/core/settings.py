"""Config sections -> settings dataclasses: one home for every default, unknown keys are errors.

A config file (``configs/...``) states an experiment; the defaults of every field live in the
dataclass of the part that reads it (the trainer's :class:`TrainSettings`, a method's sections, the
input pipeline's ``InputSettings``). ``build(cls, section, where)`` makes the dataclass from a config
section and raises :class:`ConfigError` naming the full dotted key and the known ones when the
section holds a key the dataclass lacks: ``c.mi.wieght = 0`` stops the run instead of being ignored.

The implementation lives in ``data_pipelines.settings`` (the bottom layer: the input pipeline, which
may import nothing from fer_jax, needs it too); this module is fer_jax's name for it, plus
:func:`apply_overrides` for the tools that build a config in Python.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterable

from data_pipelines.settings import ConfigError, build, check_keys, plain, unknown_key_error

__all__ = ["ConfigError", "apply_overrides", "build", "check_keys", "plain", "unknown_key_error"]


def apply_overrides(config: Any, items: Iterable[str], parse: Callable[[str], Any] = ast.literal_eval) -> None:
    """Set ``KEY=VALUE`` items (dotted keys; ``parse`` reads the value, Python literals by default, and text
    it cannot read stays a string) on a ConfigDict, as ``fer-jax train --config.KEY=VALUE`` does.

    For the tools that take overrides of a config built in Python or read from a run (``stills_run --set``,
    ``fer-jax demo --set``, ``fer-jax eval --override`` with JSON values): a key the config does not hold
    is a :class:`ConfigError` naming it, not a new field nothing reads.
    """
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"an override is KEY=VALUE, got {item!r}")
        *parents, leaf = key.split(".")
        node, where = config, ""
        for part in parents:
            if part not in node:
                raise unknown_key_error(where, part, sorted(node.keys()))
            node, where = node[part], f"{where}.{part}" if where else part
        if leaf not in node:
            raise unknown_key_error(where, leaf, sorted(node.keys()))
        try:
            value = parse(text)
        except (ValueError, SyntaxError):  # json.JSONDecodeError is a ValueError
            value = text
        node[leaf] = value
