"""The trainer's check of a whole config before anything is built: :func:`validate` = parse once + evals.

Every top-level key of a config must belong to someone: a field of :class:`TrainSettings` (read by
the trainer), ``input`` (the data path's ``InputSettings``), ``evals`` (the evaluators'
``EvalSettings``), ``init_from`` (``fer_jax.core.init_from``), or a section the method declares in
``Method.settings``. ``fer_jax.core.settings.parse`` builds each into its dataclass (the one
:class:`RunSettings` the method receives); this module adds the ``evals`` check, which lives with
evaluation (core may not import it). A misspelt key anywhere is a ``ConfigError`` naming it, raised
before a device is touched.

It also refuses a ``best_metric`` whose evaluation reads a test split
(``data_pipelines.common.folds.is_test_split``): a checkpoint chosen on the data it is reported on
reports an optimistic number. Fold protocols report their latest checkpoint (``fer-jax cv``).
"""

from __future__ import annotations

from typing import Any

from data_pipelines.common.folds import is_test_split
from fer_jax.core.settings import ConfigError, RunSettings, parse
from fer_jax.evaluate.runner import eval_settings


def validate(config: Any, method: Any) -> RunSettings:
    """Parse ``config`` once (see module docstring) and check its evaluations; the run's settings."""
    run = parse(config, method)
    evals = eval_settings(config, method, has_val_iter=True)  # keys, evaluator names and their options
    check_best_metric(run, evals)
    return run


def check_best_metric(run: RunSettings, evals: dict[str, Any]) -> None:
    """ConfigError when ``best_metric`` would choose the checkpoint on a test split (module docstring)."""
    best = run.train.best_metric
    name = best.split("/")[0]
    if not best or name not in evals:
        return
    dataset, split = run.input.dataset, evals[name].split
    if is_test_split(dataset, split):
        raise ConfigError(
            f"best_metric {best!r} is measured on split {split!r} of {dataset!r}, a test split: the best "
            f"checkpoint would be chosen on test data. Evaluate a validation split for it (builders without "
            f"an official one carve it from training subjects, e.g. 'val'), or set best_metric='' and report "
            f"the last checkpoint")
