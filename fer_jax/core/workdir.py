"""A training workdir as the other commands see it: its config, its method, its restored state.

``config.json`` is written by the trainer and read by ``eval``, ``predict``, ``export``, ``cv`` and
the demo; ``restore`` parses it once (``RunSettings``), rebuilds the method from it and loads the best
(else latest) checkpoint.

Resuming with another config: :func:`save_config` compares the new config with the saved one, key by
dotted key. Keys of :data:`RESUMABLE_KEYS` (how long and how often: ``total_steps`` extended to train
longer, ``eval_every``, ``ckpt_every``, ``keep_ckpts``, ``log_every``, ``progress_bar``,
``progress_keys``, ``prefetch``, ``tensorboard``, ``async_checkpoints``; none changes what a step
computes) may change; any other difference is a :class:`ConfigChangeError` naming the keys, raised
before training, unless the caller opts in (``train(..., allow_config_change=True)``, ``fer-jax train
--allow_config_change``); then the change is recorded in ``config_changes.jsonl`` (one JSON line per
resume: the step resumed from and each key's old and new value) and ``config.json`` becomes the new
config. This
module sits below the trainer and the evaluation code (both import it, it imports neither), which
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
from fer_jax.core.settings import ConfigError, RunSettings, parse

log = logging.getLogger(__name__)

# Top-level keys a resumed run may change without opting in: how long it trains and how often it
# logs, evaluates and checkpoints. None of them changes what a step computes.
RESUMABLE_KEYS = ("total_steps", "eval_every", "ckpt_every", "keep_ckpts", "log_every", "progress_bar",
                  "progress_keys", "prefetch", "tensorboard", "async_checkpoints")
CHANGES_FILE = "config_changes.jsonl"


class ConfigChangeError(ConfigError):
    """A run resumed with a config that differs from its saved ``config.json`` in ``keys`` (dotted)."""

    def __init__(self, workdir: str, keys: list[str]):
        self.workdir, self.keys = workdir, keys
        super().__init__(f"{workdir} was started with another config: {', '.join(keys)} differ from its "
                         "config.json; resume with the same config, or pass --allow_config_change "
                         f"(train(..., allow_config_change=True)) to continue and record the change in {CHANGES_FILE}")


def config_diff(old: Any, new: Any, where: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old, new) for each leaf that differs between two JSON-like dicts (a missing key: None)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = {}
        for k in sorted(set(old) | set(new)):
            out.update(config_diff(old.get(k), new.get(k), f"{where}.{k}" if where else k))
        return out
    return {} if old == new else {where: (old, new)}


def config_json(config: ml_collections.ConfigDict) -> dict:
    """``config`` as ``config.json`` holds it."""
    return json.loads(config.to_json_best_effort())


def effective(config: Any) -> dict:
    """What a config means: every field of its parsed settings, defaults filled in (``TrainSettings`` at
    the top, ``input``, the method's sections), with ``evals`` and ``init_from`` as written. Two configs
    that spell the same run differently (a default stated or left out) mean the same. A config this code
    cannot parse (e.g. a key since removed) is compared as written."""
    try:
        run = parse(config, resolve_method(config.method))
    except Exception:  # noqa: BLE001 - compared as written instead
        return config_json(config)
    out = dataclasses.asdict(run.train)
    out["input"] = dataclasses.asdict(run.input)
    out.update({name: dataclasses.asdict(s) if dataclasses.is_dataclass(s) else s for name, s in run.sections.items()})
    for name in ("evals", "init_from"):
        out[name] = config_json(config).get(name)
    return json.loads(json.dumps(out, default=str))  # tuples -> lists, as config.json holds them


def save_config(config: ml_collections.ConfigDict, workdir: str, *, resumed_step: int | None = None,
                allow_change: bool = False) -> None:
    """Write ``workdir/config.json`` (what ``fer-jax eval`` rebuilds the run from).

    A run resumed from its checkpoint at ``resumed_step`` is compared with the saved one, by what they
    mean (:func:`effective`: a default written out or left out is no change): a difference
    outside :data:`RESUMABLE_KEYS` is a :class:`ConfigChangeError` naming the keys, unless
    ``allow_change``; a difference that goes on is appended (process 0) to ``config_changes.jsonl``.
    Every process checks, so all of them stop together. A new run (no checkpoint yet, e.g. after a
    start that failed) just writes its config.
    """
    path, new = os.path.join(workdir, "config.json"), config_json(config)
    if resumed_step is not None and os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        diff = config_diff(effective(ml_collections.ConfigDict(old)), effective(config))
        if diff:
            needs_flag = sorted(k for k in diff if k.split(".")[0] not in RESUMABLE_KEYS)
            if needs_flag and not allow_change:
                raise ConfigChangeError(workdir, needs_flag)
            log.warning("config of %s differs from the saved one (%s); continuing with the new config",
                        workdir, ", ".join(sorted(diff)))
            if jax.process_index() == 0:
                with open(os.path.join(workdir, CHANGES_FILE), "a") as f:
                    f.write(json.dumps({"step": resumed_step, "allowed": allow_change,
                                        "changes": {k: {"old": o, "new": n} for k, (o, n) in diff.items()}},
                                       sort_keys=True) + "\n")
    if jax.process_index() == 0:
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
