"""Config sections -> settings dataclasses: one home for every default, unknown keys are errors.

A config file (``configs/...``) states an experiment; the defaults of every field live in the
dataclass of the part that reads it (the trainer's :class:`TrainSettings`, a method's sections, the
input pipeline's ``InputSettings``). ``build(cls, section, where)`` makes the dataclass from a config
section and raises :class:`ConfigError` naming the full dotted key and the known ones when the
section holds a key the dataclass lacks: ``c.mi.wieght = 0`` stops the run instead of being ignored.

A config is parsed once: :func:`parse` checks every key against its owner and builds the trainer's
:class:`TrainSettings`, the data path's ``InputSettings`` and the method's declared sections into one
:class:`RunSettings`, which the trainer (and ``restore`` for eval, predict, export) hands to the method:
``method.create(run, rngs)``, ``method.input_spec(run)``, ``method.serving_spec(run)``. Nothing below
re-reads ``config`` for those values.

The implementation lives in ``data_pipelines.settings`` (the bottom layer: the input pipeline, which
may import nothing from fer_jax, needs it too); this module is fer_jax's name for it, plus
:func:`apply_overrides` for the tools that build a config in Python.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any, Callable, Iterable, Mapping

from data_pipelines.settings import (
    ConfigError,
    InputSettings,
    build,
    check_keys,
    plain,
    unknown_key_error,
    validate_input,
)

__all__ = ["ConfigError", "RunSettings", "TrainSettings", "apply_overrides", "build", "check_keys", "parse",
           "plain", "unknown_key_error"]


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The top-level config fields; their defaults live here and nowhere else.

    ``eval_every`` 0 = evaluate only at the end; ``best_metric`` "" = no best checkpoint;
    ``prefetch``: batches prepared ahead on a thread (0 = none); ``progress_keys``: metrics on the
    progress bar (empty = every ``loss*``).
    """

    method: str = ""
    seed: int = 0
    total_steps: int = 1000
    log_every: int = 1
    eval_every: int = 0
    ckpt_every: int = 1000
    keep_ckpts: int = 3
    best_metric: str = ""
    best_mode: str = "max"
    async_checkpoints: bool = True
    prefetch: int = 2
    tensorboard: bool = True
    progress_bar: bool = True
    progress_keys: tuple[str, ...] = ()
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    target_names: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.method:
            raise ValueError("config.method is not set (a registered method name or 'module:Class')")
        if self.best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {self.best_mode!r}")
        if self.total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {self.total_steps}")


# Top-level sections owned by the data path, evaluation and init_from (not by the trainer or the method).
SECTIONS = ("input", "evals", "init_from")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """A config parsed once (:func:`parse`): what every part of a run reads.

    ``train``: the top-level fields (:class:`TrainSettings`: seed, total_steps, num_classes, ...);
    ``input``: ``config.input`` (``InputSettings``); ``sections``: the method's declared sections
    (``Method.settings``) built into their dataclasses, also readable as attributes (``run.mi``);
    ``config``: the checked config itself, for the owners that read their own sections (``evals``:
    ``fer_jax.evaluate.runner``; ``init_from``: ``fer_jax.core.init_from``) and for ``config.json``.
    """

    train: TrainSettings
    input: InputSettings
    sections: Mapping[str, Any]
    config: Any

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections")
        if name.startswith("_") or sections is None or name not in sections:
            raise AttributeError(f"RunSettings has no section {name!r}; sections: {sorted(sections or ())}")
        return sections[name]


def parse(config: Any, method: Any) -> RunSettings:
    """Check every key of ``config`` against its owner and build the run's settings, once.

    Every top-level key must belong to someone: a field of :class:`TrainSettings`, ``input``, ``evals``,
    ``init_from`` or a section of ``method.settings``; each section is built into its dataclass, so a
    misspelt key anywhere is a :class:`ConfigError` naming it. ``config.method`` may be left out when
    ``method`` is given as an object (it then names itself). The ``evals`` entries are checked by
    ``fer_jax.evaluate.runner.eval_settings`` (the trainer's ``config_check.validate`` calls both); a
    bare ``input`` pipeline entry point may still build ``InputSettings`` from a raw section itself.
    """
    from fer_jax.core import init_from  # lazily: it imports jax and orbax

    method_sections = dict(getattr(method, "settings", {}) or {})
    top = {f.name for f in dataclasses.fields(TrainSettings)} | set(SECTIONS) | set(method_sections)
    check_keys(config, top, "")
    sections = {name: build(cls, config.get(name), name) for name, cls in method_sections.items()}
    init_from.entries(config)
    inp = validate_input(config.get("input"))
    fields = {k: v for k, v in plain(config).items() if k not in SECTIONS and k not in method_sections}
    if not fields.get("method") and getattr(method, "name", ""):
        fields["method"] = method.name
    return RunSettings(build(TrainSettings, fields, ""), inp, sections, config)


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
