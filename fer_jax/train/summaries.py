"""Where training and eval numbers go: ``metrics.jsonl``, TensorBoard (clu), a progress bar, JSON files.

Only process 0 writes files; other processes log to their own stderr. ``metrics.jsonl`` holds one
object per logged train step and per eval: ``{"step", "split", <metric>: value, ...}``. On resume it
is cut back to the restored step, so a killed-and-restarted run ends with the same file as an
uninterrupted one.

TensorBoard goes through ``clu.metric_writers`` whose summary writer imports TensorFlow, so it is
imported lazily and after ``data_pipelines.tf_compat`` has hidden accelerators from TensorFlow. Where
TensorFlow is missing (e.g. a GPU machine without it), scalars still go to the log and the JSONL.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import jax
import numpy as np

from data_pipelines.atomic import atomic_write, json_safe

log = logging.getLogger(__name__)


def scalars_only(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric scalars of ``metrics`` as floats (drops lists, dicts, strings, arrays)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float, np.number)) or (isinstance(v, (np.ndarray, jax.Array)) and v.ndim == 0)}


class Summaries:
    """Scalars to JSONL + TensorBoard, a tqdm bar with step/s and the main losses (process 0 only).

    ``bar_keys``: metrics shown on the bar (default: every ``loss*`` metric).
    """

    def __init__(self, workdir: str, *, total_steps: int, first_step: int, tensorboard: bool = True,
                 progress_bar: bool = True, bar_keys: tuple[str, ...] = ()):
        self.is_main = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.bar_keys = bar_keys
        self.writer = self._make_writer(workdir, tensorboard)
        self.bar = None
        if progress_bar and self.is_main:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=first_step, unit="step", dynamic_ncols=True)

    def _make_writer(self, workdir: str, tensorboard: bool):
        if not tensorboard:
            return None
        try:
            from data_pipelines.tf_compat import import_tf

            import_tf()  # hide accelerators from TensorFlow before clu imports it
            from clu import metric_writers
        except ImportError as e:  # TensorFlow or clu not installed: JSONL and logs only
            log.warning("TensorBoard summaries off (%s)", e)
            return None
        return metric_writers.create_default_writer(workdir, just_logging=not self.is_main)

    def truncate(self, step: int) -> None:
        """Drop records after ``step`` (written by a run that was killed before its next checkpoint)."""
        if not self.is_main or not os.path.exists(self.path):
            return
        with open(self.path) as f:
            kept = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
        atomic_write(self.path, "".join(kept))

    def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
        scalars = scalars_only(metrics)
        if self.writer is not None:
            prefix = "" if split == "train" else f"{split}/"
            self.writer.write_scalars(step, {(k if k.startswith(prefix) else prefix + k): v
                                             for k, v in scalars.items()})
        if self.is_main:
            record = json_safe({"step": int(step), "split": split, **scalars})
            with open(self.path, "a") as f:
                f.write(json.dumps(record, allow_nan=False) + "\n")

    def advance(self, step: int, metrics: dict[str, Any]) -> None:
        if self.bar is not None:
            keys = self.bar_keys or [k for k in sorted(metrics) if k.startswith("loss")]
            shown = {k: f"{float(metrics[k]):.4g}" for k in keys if k in metrics}
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
