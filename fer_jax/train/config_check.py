"""The trainer's check of a whole config before anything is built: :func:`validate` = parse once + evals.

Every top-level key of a config must belong to someone: a field of :class:`TrainSettings` (read by
the trainer), ``input`` (the data path's ``InputSettings``), ``evals`` (the evaluators'
``EvalSettings``), ``init_from`` (``fer_jax.core.init_from``), or a section the method declares in
``Method.settings``. ``fer_jax.core.settings.parse`` builds each into its dataclass (the one
:class:`RunSettings` the method receives); this module adds the ``evals`` check, which lives with
evaluation (core may not import it). A misspelt key anywhere is a ``ConfigError`` naming it, raised
before a device is touched.
"""

from __future__ import annotations

from typing import Any

from fer_jax.core.settings import RunSettings, parse
from fer_jax.evaluate.runner import eval_settings


def validate(config: Any, method: Any) -> RunSettings:
    """Parse ``config`` once (see module docstring) and check its evaluations; the run's settings."""
    run = parse(config, method)
    eval_settings(config, method, has_val_iter=True)  # keys, evaluator names and their options
    return run
