"""Start from another run: copy sub-trees of a finished checkpoint into a freshly built state.

``config.init_from`` holds named entries (several sources may feed one run)::

    c.init_from = {"stage1": dict(source="runs/au_pretrain", checkpoint="best",
                                  load={"net/backbone": "net/backbone"})}

``source`` is a training workdir (``config.json`` + ``checkpoints/``: its ``best`` or ``latest``
checkpoint) or a weights directory written by :func:`save_weights` (e.g. by a converter of public
PyTorch checkpoints). ``load`` maps a destination path in this run's state to a source path in the
checkpoint, ``/``-separated (``""`` = the whole tree). Shapes and structure must match exactly;
anything else is an error naming both paths, so a wrong source fails before training.

When it applies (``apply``): to a new run, before the state is replicated and before the first
step; a run that resumes from its own checkpoint loads only the :class:`Frozen` variables of the
entries (they are not in its checkpoints) and takes the rest from its checkpoint. ``restore`` for
evaluation and serving does the same, so a frozen sub-module loaded by ``init_from`` comes back too.
This is big_vision's ``model_init`` / scenic's ``pretrain_utils`` for NNX states.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from data_pipelines.settings import ConfigError, build  # not fer_jax.core.settings: its parse() validates init_from
from fer_jax.core.frozen import Frozen


@dataclasses.dataclass(frozen=True)
class InitFrom:
    """One ``init_from`` entry (see the module docstring)."""

    source: str = ""
    checkpoint: str = "best"
    load: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not self.source:
            raise ConfigError("init_from entry needs a source (a workdir or a weights directory)")
        if self.checkpoint not in ("best", "latest"):
            raise ConfigError(f"init_from.checkpoint must be 'best' or 'latest', got {self.checkpoint!r}")
        if not self.load:
            raise ConfigError(f"init_from from {self.source!r} names nothing to load (load={{dst: src}})")


def entries(config: Any) -> dict[str, InitFrom]:
    """The validated ``init_from`` entries of ``config`` (empty when absent)."""
    section = config.get("init_from") if hasattr(config, "get") else None
    if not section:
        return {}
    return {name: build(InitFrom, spec, f"init_from.{name}") for name, spec in dict(section).items()}


def save_weights(path: str, tree: Mapping[str, Any]) -> None:
    """Write a nested dict of arrays as a weights directory ``init_from`` can read (atomic: orbax
    writes a temporary directory and renames it)."""
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.abspath(path), jax.tree.map(np.asarray, dict(tree)))
        ckptr.wait_until_finished()


def read_source(entry: InitFrom) -> dict:
    """The source's saved state as a nested dict of numpy arrays."""
    source = os.path.abspath(entry.source)
    if os.path.isfile(os.path.join(source, "config.json")):
        from fer_jax.core.checkpointing import Checkpoints

        with open(os.path.join(source, "config.json")) as f:
            best_metric = json.load(f).get("best_metric") or None
        ckpts = Checkpoints(source, every=1, keep=1, best_metric=best_metric, read_only=True)
        try:
            return ckpts.restore_raw(entry.checkpoint)
        finally:
            ckpts.close()
    if os.path.isdir(source):
        with ocp.StandardCheckpointer() as ckptr:
            return jax.tree.map(np.asarray, ckptr.restore(source))
    raise FileNotFoundError(f"init_from source {entry.source!r}: no such workdir or weights directory")


def _subtree(tree: Any, path: str, what: str) -> Any:
    node = tree
    for part in filter(None, path.split("/")):
        keys = {str(k): k for k in node} if isinstance(node, Mapping) else {}
        if part not in keys:
            raise KeyError(f"init_from: {what} path {path!r} has no {part!r}; there: {sorted(keys)}")
        node = node[keys[part]]
    return node


def _flat(tree: Any) -> dict[str, Any]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): v for path, v in leaves}


def _load_into(state: nnx.State, dst: str, src_tree: Any, label: str, only: type | None) -> int:
    """Copy ``src_tree`` into the sub-tree ``dst`` of ``state`` (in place); returns leaves copied."""
    pure = nnx.to_pure_dict(state if only is None else state.filter(only))
    if only is not None and not dst_has(pure, dst):
        return 0
    target = _flat(_subtree(pure, dst, "destination"))
    source = _flat(src_tree)
    if only is None and set(target) != set(source):
        missing, extra = sorted(set(target) - set(source)), sorted(set(source) - set(target))
        raise ValueError(f"init_from {label}: structure differs at {dst!r}: missing in source {missing[:5]}, "
                         f"not in destination {extra[:5]}")
    copied = {}
    for key, want in target.items():
        if key not in source:
            raise ValueError(f"init_from {label}: source has no {key!r} under the mapped path")
        got = np.asarray(source[key])
        if got.shape != tuple(want.shape):
            raise ValueError(f"init_from {label}: {dst}/{key} has shape {tuple(want.shape)} here, {got.shape} "
                             "in the source")
        copied[key] = got.astype(want.dtype)
    _assign(pure, dst, copied)
    nnx.replace_by_pure_dict(state, pure)
    return len(copied)


def dst_has(pure: Mapping, dst: str) -> bool:
    try:
        _subtree(pure, dst, "destination")
    except KeyError:
        return False
    return True


def _assign(pure: dict, dst: str, flat: Mapping[str, Any]) -> None:
    base = _subtree(pure, dst, "destination")
    for key, value in flat.items():
        node, parts = base, key.split("/")
        for part in parts[:-1]:
            node = node[{str(k): k for k in node}[part]]
        node[{str(k): k for k in node}[parts[-1]]] = value


def apply(config: Any, model: nnx.Module, *, frozen_only: bool = False) -> dict[str, int]:
    """Load every ``init_from`` entry into ``model`` in place; ``{entry: leaves copied}``.

    ``frozen_only``: load only :class:`Frozen` variables (a resumed run or a restore for evaluation).
    """
    found = entries(config)
    if not found:
        return {}
    graphdef, state = nnx.split(model)
    counts = {}
    frozen = nnx.to_pure_dict(state.filter(Frozen))
    for name, entry in found.items():
        if frozen_only and not any(dst_has(frozen, dst) for dst in entry.load):
            continue  # nothing frozen to load: the source need not exist any more
        tree = read_source(entry)
        n = 0
        for dst, src in entry.load.items():
            n += _load_into(state, dst, _subtree(tree, src, f"source ({entry.source})"), f"{name} ({entry.source})",
                            Frozen if frozen_only else None)
        counts[name] = n
    nnx.update(model, state)
    return counts
