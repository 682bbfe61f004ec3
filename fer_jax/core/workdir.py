"""A training workdir as the other commands see it: its config, its method, its restored state.

``config.json`` is written by the trainer and read by ``eval``, ``predict``, ``export``, ``cv`` and
the demo; ``restore`` parses it once (``RunSettings``), rebuilds the method from it and loads the best
(else latest) checkpoint. This module sits below the trainer and the evaluation code (both import it, it imports neither), which
keeps the import graph free of cycles.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from data_pipelines.atomic import atomic_write_json
from fer_jax.core import init_from
from fer_jax.core.checkpointing import Checkpoints
from fer_jax.core.registry import resolve_method
from fer_jax.core.settings import RunSettings, parse

log = logging.getLogger(__name__)


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """``workdir/config.json`` (what ``fer-jax eval`` rebuilds the run from); warns if it changed."""
    if jax.process_index() != 0:
        return
    path, new = os.path.join(workdir, "config.json"), json.loads(config.to_json_best_effort())
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            log.warning("config of %s differs from the saved one (top-level fields %s); continuing "
                        "with the new config", workdir, changed)
    atomic_write_json(path, new, indent=1, sort_keys=True)


def load_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no config.json; is {workdir!r} a training workdir?")
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


@dataclasses.dataclass
class Restored:
    config: ml_collections.ConfigDict
    method: Any
    run: RunSettings  # ``config`` parsed once, as the method receives it
    state: nnx.Module  # the method's whole training state, restored
    step: int
    checkpoint: str  # "best" or "latest": what was actually restored


def restore(workdir: str, checkpoint: str = "best", config: ml_collections.ConfigDict | None = None,
            step: int | None = None) -> Restored:
    """Rebuild the method of ``workdir/config.json`` and restore its best (else latest) checkpoint,
    or, with ``step``, that step of the ``latest`` checkpoints (a step is a step, whichever was asked)."""
    config = config or load_config(workdir)
    method = resolve_method(config.method)
    run = parse(config, method)
    model = method.create(run, nnx.Rngs(run.train.seed))
    init_from.apply(config, model, frozen_only=True)  # frozen sub-modules are not in checkpoints
    graphdef, state = nnx.split(model)
    ckpts = Checkpoints(workdir, every=1, keep=1, best_metric=run.train.best_metric or None, read_only=True)
    try:
        which = checkpoint
        if which == "best" and (step is not None or ckpts.best is None or ckpts.best.best_step() is None):
            which = "latest"
        state, _, step = ckpts.restore(state, which, step=step)
    finally:
        ckpts.close()
    return Restored(config, method, run, nnx.merge(graphdef, state), step, which)


def arrays(module: nnx.Module, *filters: Any) -> dict[str, np.ndarray]:
    """``module``'s variables passing ``filters`` (default: parameters) as ``{"a/b/c": array}``: the
    flat form two runs' checkpoints are compared in (1 vs N devices, resumed vs uninterrupted)."""
    state = nnx.filter_state(nnx.state(module), nnx.Any(*filters) if filters else nnx.Param)
    flat = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(state))[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v) for path, v in flat}
