"""Evaluation over whole splits: named evaluations for the trainer, ``fer-jax eval``, ``cv`` and the demo.

``collect`` runs ``method.eval_step`` (jitted over the ``data`` mesh) on every batch of a one-pass
eval iterator and gathers the per-example outputs to the host on every process. Labels, identities
and the padding ``mask`` travel through the same jitted call, so they come back in the same global
order as the method's outputs, whatever the process count. Padding rows (``mask == 0``) are dropped.
The evaluators (``evaluators.py``) turn the gathered arrays into a report.

Which evaluations a run has: ``config.evals`` = {name: :class:`EvalSettings` fields}, e.g.
``{"val": dict(split="val"), "test": dict(split="test", evaluators=("classification", "embedding"),
every=500)}``. Without ``config.evals`` there is one evaluation ``val`` on ``config.input.split_val``
with the method's ``evaluators`` (none when that split is empty). Summary names are
``<eval name>/<metric>`` (``val/uar``, ``test/icc_mean``, ``val/recall/<class>``).

``Evaluations`` schedules and runs them inside the trainer; ``evaluate_splits`` / ``evaluate`` restore
a trained workdir and evaluate splits for ``fer-jax eval``, ``fer-jax cv`` and the demo.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import jax
import ml_collections
import numpy as np
from flax import nnx

from fer_jax.core.data import make_iterator
from fer_jax.core.parallel import make_mesh, replicated, shard_batch, to_host
from fer_jax.core.settings import ConfigError, RunSettings, build, check_keys
from fer_jax.core.workdir import restore
from fer_jax.evaluate import evaluators as evaluators_lib

# Batch keys copied through the eval step next to the method's outputs (when the batch has them).
PASSTHROUGH = ("label", "identity", "mask")


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """One named evaluation of ``config.evals``.

    ``split``: the split evaluated (empty: ``config.input.split_val``). ``evaluators``: registry names
    (empty: the method's ``evaluators``). ``every``: run every N steps (0: the trainer's ``eval_every``;
    every evaluation also runs at the last step). ``options``: evaluator name -> keyword arguments,
    e.g. ``{"identity_audit": {"repeats": 10}}``.
    """

    split: str = ""
    evaluators: tuple[str, ...] = ()
    every: int = 0
    options: dict = dataclasses.field(default_factory=dict)


def method_evaluators(method: Any) -> tuple[str, ...]:
    return tuple(getattr(method, "evaluators", ("classification",)))


def eval_settings(config: ml_collections.ConfigDict, method: Any, has_val_iter: bool = False
                  ) -> dict[str, EvalSettings]:
    """The run's evaluations, defaults filled in (see module docstring); ConfigError for a bad one.

    ``has_val_iter``: the caller feeds ``val`` its own iterator, so it exists even without a split.
    """
    split_val = config.input.get("split_val", "") if "input" in config else ""
    if "evals" not in config or config.evals is None:
        if not (split_val or has_val_iter):
            return {}
        return {"val": EvalSettings(split=split_val, evaluators=method_evaluators(method))}
    out = {}
    for name, section in config.evals.items():
        if not name or "/" in name or name == "train":
            raise ConfigError(f"config.evals.{name}: an eval name is a non-empty word other than 'train'")
        s = build(EvalSettings, section, f"evals.{name}")
        s = dataclasses.replace(s, split=s.split or split_val,
                                evaluators=tuple(s.evaluators) or method_evaluators(method))
        if not s.split and not (name == "val" and has_val_iter):
            raise ConfigError(f"config.evals.{name}: no split (and config.input.split_val is empty)")
        check_keys(s.options, set(s.evaluators), f"evals.{name}.options")
        for ev in s.evaluators:
            evaluators_lib.check_options(ev, dict(s.options.get(ev, {})), f"evals.{name}.options.{ev}")
        out[name] = s
    return out


def make_eval_fn(method: Any, graphdef: nnx.GraphDef) -> Callable:
    """Jitted ``(state, batch) -> per-example outputs`` of ``method.eval_step`` plus PASSTHROUGH keys."""

    def eval_fn(state, batch):
        out = dict(method.eval_step(nnx.merge(graphdef, state), batch))
        out.update({k: batch[k] for k in PASSTHROUGH if k in batch})
        return out

    return jax.jit(eval_fn)


def collect(eval_fn: Callable, state: nnx.State, batches: Iterable[dict], mesh: jax.sharding.Mesh
            ) -> dict[str, np.ndarray]:
    """Per-example eval outputs of a whole split as numpy arrays, padding rows removed."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        batch = dict(batch)
        batch.setdefault("mask", np.ones(len(next(iter(batch.values()))), np.float32))
        out = to_host(eval_fn(state, shard_batch(batch, mesh)))
        for k, v in out.items():
            if np.ndim(v) >= 1:  # per-example outputs only; scalars from eval_step are ignored
                parts.setdefault(k, []).append(np.asarray(v))
    if not parts:
        raise ValueError("the eval iterator yielded no batches")
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    keep = arrays.pop("mask") > 0
    return {k: v[keep] for k, v in arrays.items()}


def evaluate_arrays(arrays: dict[str, np.ndarray], config: ml_collections.ConfigDict,
                    names: Sequence[str], options: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
    """The evaluators' merged report + ``num_examples`` + the split mean of each ``*_per_example``
    output (e.g. ``mi/club_per_example`` -> ``mi/club``)."""
    out = evaluators_lib.run_all(tuple(names), arrays, config, {k: dict(v) for k, v in (options or {}).items()})
    out["num_examples"] = int(len(next(iter(arrays.values()))))
    for key, value in arrays.items():
        if key.endswith("_per_example") and value.ndim == 1:
            out[key[: -len("_per_example")]] = float(np.mean(value))
    return out


def scalar_metrics(name: str, report: Mapping[str, Any]) -> dict[str, float]:
    """``<name>/<metric>`` for each of ``evaluators.flat_scalars(report)`` (``val/uar``, ``val/recall/a``)."""
    return {f"{name}/{k}": v for k, v in evaluators_lib.flat_scalars(dict(report)).items()}


def eval_iterator(run: RunSettings, method: Any, split: str) -> Iterator:
    """A one-pass iterator over ``split`` holding the method's ``input_spec`` keys."""
    return make_iterator(run, split, train=False, seed=run.train.seed, spec=method.input_spec(run))


class Evaluations:
    """The run's named evaluations for the trainer: when each is due and running it on a state.

    ``iter_fns``: eval name -> a function returning a fresh one-pass iterator, replacing the one built
    from the config (the trainer's ``eval_iter_fn`` feeds ``val``).
    """

    def __init__(self, run: RunSettings, method: Any, graphdef: nnx.GraphDef,
                 mesh: jax.sharding.Mesh, iter_fns: Mapping[str, Callable[[], Iterator] | None] | None = None):
        self.run_settings, self.config, self.method, self.mesh = run, run.config, method, mesh
        self.iter_fns = {k: v for k, v in (iter_fns or {}).items() if v is not None}
        self.settings = eval_settings(run.config, method, has_val_iter="val" in self.iter_fns)
        self.eval_every = run.train.eval_every
        self.eval_fn = make_eval_fn(method, graphdef) if self.settings else None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.settings)

    def due(self, step: int, total: int) -> list[str]:
        """Names of the evaluations to run after ``step`` updates (all of them at the last step)."""
        out = []
        for name, s in self.settings.items():
            every = s.every or self.eval_every
            if step == total or (every > 0 and step % every == 0):
                out.append(name)
        return out

    def run(self, name: str, state: nnx.State) -> tuple[dict[str, float], dict[str, Any]]:
        """Evaluate ``state`` (replicated) as evaluation ``name``: (``name/<metric>`` scalars, report)."""
        s = self.settings[name]
        fn = self.iter_fns.get(name) or (lambda: eval_iterator(self.run_settings, self.method, s.split))
        arrays = collect(self.eval_fn, state, fn(), self.mesh)
        report = evaluate_arrays(arrays, self.config, s.evaluators, s.options)
        report["split"] = s.split
        return scalar_metrics(name, report), report


def settings_for_split(config: ml_collections.ConfigDict, method: Any, split: str) -> EvalSettings:
    """The settings of the config's evaluation of ``split`` (the first such), else of ``val``, else the
    method's evaluators on ``split``."""
    found = eval_settings(config, method)
    for s in found.values():
        if s.split == split:
            return s
    base = found.get("val", EvalSettings(evaluators=method_evaluators(method)))
    return dataclasses.replace(base, split=split)


def evaluate(config: ml_collections.ConfigDict, workdir: str, split: str | None = None,
             checkpoint: str = "best") -> dict[str, Any]:
    """The evaluators' report of a trained ``workdir`` on ``split`` + its per-example arrays.

    For a classification method the keys include ``war``, ``uar``, ``per_class_recall``,
    ``confusion``, and the arrays ``features``, ``identity`` (when the data has it), ``label`` and
    ``pred``; always ``step`` (the checkpoint's), ``split`` and ``checkpoint``. ``checkpoint="best"``
    falls back to the latest when no best checkpoint exists.
    """
    split = split or config.input.split_val
    return evaluate_splits(config, workdir, (split,), checkpoint)[split]


def evaluate_splits(config: ml_collections.ConfigDict, workdir: str, splits: Sequence[str],
                    checkpoint: str = "best") -> dict[str, dict[str, Any]]:
    """``evaluate`` on several splits from one restore and one compiled eval step: {split: result}.

    Each split gets the evaluators of the config's evaluation of that split (``settings_for_split``).
    """
    mesh = make_mesh()
    restored = restore(workdir, checkpoint, config)
    method, step, which = restored.method, restored.step, restored.checkpoint
    graphdef, state = nnx.split(restored.state)
    state = jax.device_put(state, replicated(mesh))
    eval_fn = make_eval_fn(method, graphdef)
    results = {}
    for split in splits:
        s = settings_for_split(config, method, split)
        arrays = collect(eval_fn, state, eval_iterator(restored.run, method, split), mesh)
        result = evaluate_arrays(arrays, config, s.evaluators, s.options)
        if "logits" in arrays:
            arrays["pred"] = np.argmax(arrays["logits"], axis=-1).astype(np.int32)
        result.update(step=step, split=split, checkpoint=which, **arrays)
        results[split] = result
    return results
