"""Orbax checkpoints of the trainer: latest-K for resuming, best-by-val kept apart.

Layout under ``workdir``::

    checkpoints/<step>/{state,iterator,meta}   every ``ckpt_every`` steps (async), ``keep_ckpts`` kept
    best/<step>/{state,meta}                   the single best checkpoint by ``best_metric``

``state`` is the NNX state as a pure dict (``nnx.to_pure_dict``), less the variables of frozen
sub-modules (``fer_jax.core.frozen.Frozen``): those are loaded when the state is built and never
written; on restore they are taken from the template. Typed PRNG keys (the ``nnx.Rngs``
streams, i.e. the run's rng state) are stored as their raw ``key_data`` and re-wrapped on restore,
because a pure array tree is what every orbax version reads back. ``iterator`` is the input
iterator's JSON state, ``meta`` the step and, for best checkpoints, the eval metrics.

Two managers rather than one with ``best_fn``: the resume chain must keep the *latest* K whatever
their score, while the best checkpoint must survive however many later, worse ones are written.
Orbax writes each step to a temporary directory and renames it when complete, so a process killed
mid-save leaves no checkpoint that a restart could mistake for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from fer_jax.core.frozen import Frozen

log = logging.getLogger(__name__)


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _saved_part(state: nnx.State) -> nnx.State:
    """What a checkpoint holds: everything but the frozen sub-modules' variables."""
    return state.filter(nnx.Not(Frozen))


def _to_saveable(state: nnx.State) -> dict:
    pure = nnx.to_pure_dict(_saved_part(state))
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, pure)


def _abstract(state: nnx.State) -> dict:
    def leaf(x):
        if _is_key(x):
            data = jax.random.key_data(x)
            return jax.ShapeDtypeStruct(data.shape, data.dtype, sharding=data.sharding)
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))

    return jax.tree.map(leaf, nnx.to_pure_dict(_saved_part(state)))


def _from_saveable(template: nnx.State, restored: dict) -> nnx.State:
    frozen, saved = nnx.split_state(template, Frozen, ...)
    pure = jax.tree.map(
        lambda t, r: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if _is_key(t) else r,
        nnx.to_pure_dict(saved), restored,
    )
    saved = jax.tree.map(lambda x: x, saved)  # a copy: the template stays usable
    nnx.replace_by_pure_dict(saved, pure)
    return nnx.merge_state(saved, frozen)


def _check_same_on_all_processes(iterator_state: dict) -> None:
    """Only process 0's iterator state is written; make sure it stands for every process."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    digest = hashlib.sha256(json.dumps(iterator_state, sort_keys=True).encode()).digest()[:8]
    multihost_utils.assert_equal(
        np.frombuffer(digest, np.int32),
        "input iterator states differ between processes; they must describe the global stream",
    )


class Checkpoints:
    """Save/restore the training state, iterator position and step under ``workdir``."""

    def __init__(self, workdir: str, *, every: int, keep: int, best_metric: str | None = None,
                 best_mode: str = "max", asynchronous: bool = True, read_only: bool = False):
        """``read_only`` (evaluation) never creates, cleans or deletes anything in ``workdir``."""
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
        self.best_metric, self.best_mode = best_metric, best_mode
        self.latest = ocp.CheckpointManager(
            os.path.join(os.path.abspath(workdir), "checkpoints"),
            options=ocp.CheckpointManagerOptions(
                save_interval_steps=max(int(every), 1), max_to_keep=max(int(keep), 1),
                enable_async_checkpointing=asynchronous, cleanup_tmp_directories=not read_only,
                read_only=read_only, create=not read_only),
            item_names=("state", "iterator", "meta"),
        )
        self.best = None
        if best_metric:
            self.best = ocp.CheckpointManager(
                os.path.join(os.path.abspath(workdir), "best"),
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=1, best_fn=lambda m: float(m[best_metric]), best_mode=best_mode,
                    keep_checkpoints_without_metrics=False, enable_async_checkpointing=asynchronous,
                    cleanup_tmp_directories=not read_only, read_only=read_only, create=not read_only),
                item_names=("state", "meta"),
            )

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def should_save(self, step: int) -> bool:
        """Whether ``step`` is on the save interval."""
        return self.latest.should_save(step)

    def save(self, step: int, state: nnx.State, iterator_state: dict, *, force: bool = False) -> bool:
        """Save if ``step`` is on the interval (or ``force``); returns whether a save started."""
        if not (force or self.latest.should_save(step)):
            return False
        _check_same_on_all_processes(iterator_state)
        self._wait_for(self.best)
        return self.latest.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_saveable(state)),
            iterator=ocp.args.JsonSave(iterator_state),
            meta=ocp.args.JsonSave({"step": int(step)}),
        ), force=force)

    def save_best(self, step: int, state: nnx.State, metrics: dict[str, Any]) -> None:
        """Offer an evaluated state; orbax keeps it only if it beats the best so far."""
        if self.best is None:
            return
        if self.best_metric not in metrics:
            raise KeyError(f"best_metric {self.best_metric!r} not among eval metrics {sorted(metrics)}")
        scalars = {k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}
        if not math.isfinite(scalars[self.best_metric]):  # e.g. UAR of an empty split: not rankable
            log.warning("step %d: %s = %s, not offered as best checkpoint", step, self.best_metric,
                        scalars[self.best_metric])
            return
        self._wait_for(self.latest)
        self.best.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_saveable(state)),
            meta=ocp.args.JsonSave({"step": int(step), "metrics": scalars}),
        ), metrics=scalars, force=True)

    def restore(self, template: nnx.State, which: str = "latest", step: int | None = None
                ) -> tuple[nnx.State, dict | None, int]:
        """(state, iterator state or None, step) of the ``which`` ("latest" | "best") checkpoint."""
        manager = self.latest if which == "latest" else self.best
        if manager is None:
            raise FileNotFoundError("no best-checkpoint manager: config.best_metric is empty")
        if step is None:
            step = manager.best_step() if which == "best" else manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no {which} checkpoint in {manager.directory}")
        items = {"state": ocp.args.StandardRestore(_abstract(template)), "meta": ocp.args.JsonRestore()}
        if which == "latest":
            items["iterator"] = ocp.args.JsonRestore()
        restored = manager.restore(step, args=ocp.args.Composite(**items))
        return _from_saveable(template, restored["state"]), (restored["iterator"] if which == "latest" else None), int(step)

    def restore_raw(self, which: str = "best") -> dict:
        """The saved state of the ``which`` checkpoint ("best" falls back to "latest") as a nested
        dict of numpy arrays, without a template (``init_from`` reads other runs this way)."""
        manager = self.best if which == "best" and self.best is not None and self.best.best_step() is not None \
            else self.latest
        step = manager.best_step() if manager is self.best else manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {manager.directory}")
        restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
        return jax.tree.map(np.asarray, restored["state"])

    @staticmethod
    def _wait_for(manager) -> None:
        """Let the other manager's async save finish before this one starts.

        Orbax's multi-process finalize threads synchronise on barrier names that do not include the
        manager's directory, so two managers finalizing at once (the latest and the best checkpoint
        of the same eval step) collide ("barrier ... is already ongoing") and hang the other
        processes. Serialising the two keeps every save asynchronous with respect to training.
        """
        if manager is not None:
            manager.wait_until_finished()

    def best_metrics(self) -> dict | None:
        """The eval metrics recorded with the best checkpoint, if any."""
        if self.best is None or self.best.best_step() is None:
            return None
        step = self.best.best_step()
        meta = self.best.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        return dict(meta["metrics"], step=step)

    def wait(self) -> None:
        self.latest.wait_until_finished()
        if self.best is not None:
            self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        if self.best is not None:
            self.best.close()
