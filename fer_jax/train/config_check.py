"""The trainer's own settings and the check of a whole config before anything is built.

Every top-level key of a config must belong to someone: a field of :class:`TrainSettings` (read by
the trainer), ``input`` (the data path's ``InputSettings``), ``evals`` (the evaluators'
``EvalSettings``), ``init_from`` (``fer_jax.core.init_from``), or a section the method declares in
``Method.settings``. Each section is built into its dataclass, so a misspelt key anywhere is a
``ConfigError`` naming it, raised before a device is touched.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from data_pipelines.settings import validate_input
from fer_jax.core.settings import build, check_keys, plain


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


SECTIONS = ("input", "evals", "init_from")  # top-level sections owned by the data path, evaluation, init_from


def validate(config: Any, method: Any) -> TrainSettings:
    """Check every key of ``config`` against its owner (see module docstring); the trainer's settings."""
    from fer_jax.core import init_from
    from fer_jax.evaluate.runner import eval_settings

    method_sections = dict(getattr(method, "settings", {}) or {})
    top = {f.name for f in dataclasses.fields(TrainSettings)} | set(SECTIONS) | set(method_sections)
    check_keys(config, top, "")
    for name, cls in method_sections.items():
        build(cls, config.get(name), name)
    init_from.entries(config)
    validate_input(config.get("input"))
    eval_settings(config, method, has_val_iter=True)  # keys, evaluator names and their options
    return build(TrainSettings, {k: v for k, v in plain(config).items() if k not in SECTIONS
                                 and k not in method_sections}, "")
