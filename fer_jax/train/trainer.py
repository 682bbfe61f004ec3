"""The one training loop shared by every method (MI-FER, STT, AU intensity, IFER).

Flow: config check → mesh over all devices → ``method.create`` → ``init_from`` → state replicated
over the ``data`` mesh → restore the latest checkpoint of ``workdir`` if there is one → loop: next
per-process batch → ``shard_batch`` (both on a prefetch thread, ``config.prefetch`` batches ahead) →
jitted step → non-finite check → log → eval → checkpoint.

The step is ``nnx.split`` once and run as a pure ``jax.jit`` function ``(state, batch, step) ->
(state, metrics)`` that merges the graph, calls ``method.train_step`` (which mutates the merged
module in place) and returns the new state. This keeps NNX's in-place programming model for methods
while the loop avoids ``nnx.jit``'s per-call graph traversal; the state is replicated explicitly
(``out_shardings``) and donated, so updates happen in place in device memory. The module returned
by ``method.create`` is brought up to date (``nnx.update``) at the end.

Config: parsed once, by ``config_check.validate`` (``fer_jax.core.settings.parse`` + the evals check),
before anything is built (an unknown key is a ``ConfigError``), into the :class:`RunSettings` every
method hook receives (``create``, ``input_spec``, ``on_start``); the top-level fields and their defaults
are ``TrainSettings``. A resumed run whose config differs from its ``config.json`` beyond the keys that
may change (``fer_jax.core.workdir.RESUMABLE_KEYS``: ``total_steps``, ``eval_every``, ...) stops with a
``ConfigChangeError`` naming the keys, unless ``allow_config_change`` (recorded in
``config_changes.jsonl``). A new
run loads ``config.init_from`` (``init_from.py``) into the fresh state before it is replicated; a
resumed run takes everything from its own checkpoint except frozen sub-modules, which are never
checkpointed (``frozen.py``). Randomness inside a step follows ``rng.py`` (keys from seed and step).

Step numbering: the step passed to ``train_step`` is the 0-based index of the update; logs,
checkpoints and evals are labelled with the number of updates done (1-based), so "step 10" is the
state after ten updates, and a run with ``total_steps=N`` ends at step N.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np
from flax import nnx

from data_pipelines.atomic import atomic_write_json
from fer_jax.core import init_from
from fer_jax.core.checkpointing import Checkpoints
from fer_jax.core.data import make_iterator
from fer_jax.core.parallel import data_sharding, make_mesh, replicated
from fer_jax.core.registry import resolve_method
from fer_jax.core.workdir import save_config
from fer_jax.evaluate import runner
from fer_jax.train.config_check import validate
from fer_jax.train.prefetch import DevicePrefetcher
from fer_jax.train.summaries import Summaries

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A ``loss*`` metric became NaN/inf; the state of that step is never checkpointed."""

    def __init__(self, step: int, key: str, value: float):
        self.step, self.key, self.value = step, key, value
        super().__init__(f"non-finite {key} = {value} at step {step}; stopping without saving this "
                         "state (the last checkpoint is still valid)")


def _scalar_host(metrics: dict[str, jax.Array]) -> dict[str, float]:
    """Replicated scalar metrics -> floats, in one transfer (works across processes)."""
    local = {k: v.addressable_data(0) if isinstance(v, jax.Array) else v for k, v in metrics.items()}
    return {k: float(v) for k, v in jax.device_get(local).items()}


def check_finite(step: int, metrics: dict[str, float]) -> None:
    for key in sorted(metrics):
        if key.startswith("loss") and not math.isfinite(metrics[key]):
            raise NonFiniteLossError(step, key, metrics[key])


def train(config: ml_collections.ConfigDict, workdir: str, *, train_iter: Iterator | None = None,
          eval_iter_fn: Callable[[], Iterator] | None = None, allow_config_change: bool = False
          ) -> dict[str, Any]:
    """Train ``config.method`` for ``config.total_steps`` steps in ``workdir``, resuming if possible
    (``total_steps = 0`` saves the initial state as step 0 and trains nothing).

    ``train_iter`` / ``eval_iter_fn`` replace the iterators built from ``config.input`` (the eval
    function must return a fresh one-pass iterator per call). ``allow_config_change``: resume even when
    the config differs from the workdir's ``config.json`` in keys other than ``RESUMABLE_KEYS`` (the
    change is recorded in ``config_changes.jsonl``). Returns ``{"step", "train": the last
    step's metrics, "val": the last eval's scalars, "model": the trained NNX module}``.
    """
    workdir = os.path.abspath(workdir)
    method = resolve_method(config.method)
    run = validate(config, method)  # parsed once; a misspelt key stops here, before anything is built
    settings = run.train
    os.makedirs(workdir, exist_ok=True)
    total = settings.total_steps
    mesh = make_mesh()
    ckpts = Checkpoints(workdir, every=settings.ckpt_every, keep=settings.keep_ckpts,
                        best_metric=settings.best_metric or None, best_mode=settings.best_mode,
                        asynchronous=settings.async_checkpoints)
    latest = ckpts.latest_step()
    resuming = latest is not None
    try:  # a resumed run with another config stops here, before anything is built
        save_config(config, workdir, resumed_step=latest, allow_change=allow_config_change)
    except BaseException:
        ckpts.close()
        raise
    model = method.create(run, nnx.Rngs(settings.seed))
    loaded = init_from.apply(config, model, frozen_only=resuming)  # before replication
    if loaded and not resuming:
        log.info("init_from: %s", ", ".join(f"{k}: {n} arrays" for k, n in loaded.items()))
    graphdef, state = nnx.split(model)
    rep = replicated(mesh)
    state = jax.device_put(state, rep)
    nnx.update(model, state)  # drop the module's unreplicated initial arrays

    if train_iter is None:
        train_iter = make_iterator(run, run.input.split_train, train=True, seed=settings.seed,
                                   spec=method.input_spec(run))
    evals = runner.Evaluations(run, method, graphdef, mesh, iter_fns={"val": eval_iter_fn})

    first = 0
    if resuming:
        state, iter_state, first = ckpts.restore(state)
        train_iter.set_state(iter_state)
        log.info("resumed from step %d of %s", first, workdir)
    else:
        log.info("starting %s in %s on %d devices, %d processes", config.method, workdir,
                 jax.device_count(), jax.process_count())
    if not resuming and jax.process_index() == 0 and hasattr(method, "on_start"):
        method.on_start(run, workdir)

    summaries = Summaries(workdir, total_steps=total, first_step=first,
                          tensorboard=settings.tensorboard, progress_bar=settings.progress_bar,
                          bar_keys=settings.progress_keys)
    summaries.truncate(first)

    def pure_step(state, batch, step):
        module = nnx.merge(graphdef, state)
        metrics = method.train_step(module, batch, step)
        return nnx.state(module), metrics

    step_fn = jax.jit(pure_step, in_shardings=(rep, data_sharding(mesh), rep), out_shardings=rep,
                      donate_argnums=0)
    log_every = max(settings.log_every, 1)
    best_eval = settings.best_metric.split("/")[0]

    def evaluate(step: int, record: bool = True) -> dict[str, float]:
        """The evaluations due at ``step`` (runner.Evaluations): summaries, ``eval[_<name>]_<step>.json``,
        best checkpoint when the best metric's evaluation ran."""
        named_all: dict[str, float] = {}
        due = evals.due(step, total)
        for name in due:
            named, report = evals.run(name, state)
            named_all.update(named)
            if record:
                summaries.write(step, name, named)
                if jax.process_index() == 0:
                    stem = "eval" if name == "val" else f"eval_{name}"
                    atomic_write_json(os.path.join(workdir, f"{stem}_{step}.json"), dict(report, step=step))
        if record and (best_eval in due or best_eval not in evals.names):
            ckpts.save_best(step, state, named_all)
        return named_all

    train_metrics: dict[str, float] = {}
    val_metrics: dict[str, float] = {}
    tick, tick_step = time.perf_counter(), first

    def finish(step: int, metrics: dict[str, jax.Array]) -> None:
        """Host side of a step: fetch its scalars, stop on a non-finite loss, log."""
        nonlocal train_metrics, tick, tick_step
        train_metrics = _scalar_host(metrics)
        check_finite(step, train_metrics)
        summaries.advance(step, train_metrics)
        if step % log_every == 0 or step == total:
            now = time.perf_counter()
            rate = (step - tick_step) / max(now - tick, 1e-9)
            summaries.write(step, "train", dict(train_metrics, **{"perf/steps_per_sec": rate}))
            tick, tick_step = now, step

    batches = DevicePrefetcher(train_iter, mesh, depth=settings.prefetch if first < total else 0)
    try:
        # A step's metrics are fetched after the NEXT step is dispatched, so the host prepares batch
        # t+1 while the device runs step t. Steps that evaluate or checkpoint are finished (and
        # checked for non-finite losses) before their state is used, so no bad state is ever saved.
        pending: tuple[int, dict] | None = None
        for step in range(first + 1, total + 1):
            try:
                batch, iter_state = next(batches)
            except StopIteration:
                raise RuntimeError(f"the training iterator ran out before step {step}") from None
            state, metrics = step_fn(state, batch, np.int32(step - 1))
            if pending is not None:
                finish(*pending)
                pending = None
            do_eval = bool(evals.due(step, total))
            if not (do_eval or step == total or ckpts.should_save(step)):
                pending = (step, metrics)
                continue
            finish(step, metrics)
            if do_eval:
                val_metrics = evaluate(step)
            ckpts.save(step, state, iter_state, force=step == total)
        if total == 0 and not resuming:  # the initial state (after init_from) as checkpoint 0: a workdir to
            ckpts.save(0, state, train_iter.get_state(), force=True)  # export or evaluate without training
        elif first == total and evals.names:  # resumed a finished run: report, record nothing
            val_metrics = evaluate(total, record=False)
        ckpts.wait()
    finally:
        batches.close()
        ckpts.close()
        summaries.close()
    nnx.update(model, state)
    return {"step": total, "train": train_metrics, "val": val_metrics, "model": model}
