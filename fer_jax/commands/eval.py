"""``fer-jax eval --workdir=DIR [--split=test] [--checkpoint=best|latest] [--save_arrays]``.

Reads ``DIR/config.json`` (written by ``fer-jax train``), restores the chosen checkpoint, evaluates
it on the split (default: the config's validation split) with the evaluators the config gives that
split (``config.evals``, else the method's) and writes the report to
``DIR/eval_<split>_<checkpoint>.json`` (``latest`` when no best checkpoint exists). ``--save_arrays``
also writes the per-example outputs (for a classifier ``features``, ``identity``, ``label``, ``pred``,
``logits``) to ``DIR/eval_<split>_<checkpoint>.npz`` for the identity audit.
Config fields can be overridden, e.g. ``--override=input.data_dir=/data`` (repeatable).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import flags


def _define_flags(fv: flags.FlagValues, argv: list[str]) -> None:
    from fer_jax.commands.train import define_distributed_flags

    flags.DEFINE_string("workdir", None, "a training workdir (holds config.json)", flag_values=fv)
    flags.DEFINE_string("split", None, "split to evaluate (default: config.input.split_val)", flag_values=fv)
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "which checkpoint", flag_values=fv)
    flags.DEFINE_bool("save_arrays", False, "also write per-example arrays (.npz)", flag_values=fv)
    flags.DEFINE_multi_string("override", [], "config override KEY=JSON_VALUE, e.g. input.data_dir=/d",
                              flag_values=fv)
    define_distributed_flags(fv)


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "--helpfull") for a in argv):
        print(__doc__)
        return 0
    from fer_jax.commands.train import parse, start

    fv = parse(argv, "fer-jax eval", _define_flags)
    if fv is None:
        return 2
    if not fv.workdir:
        print("fer-jax eval: --workdir is required", file=sys.stderr)
        return 2
    from fer_jax.core.settings import apply_overrides
    from fer_jax.core.workdir import load_config

    try:
        config = load_config(fv.workdir)
        apply_overrides(config, fv.override, parse=json.loads)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"fer-jax eval: {e}", file=sys.stderr)
        return 2
    if not start(fv, "fer-jax eval"):
        return 2
    import jax

    from data_pipelines.atomic import atomic_path, atomic_write_json, json_safe
    from fer_jax.evaluate.runner import evaluate

    try:
        result = evaluate(config, fv.workdir, fv.split, fv.checkpoint)
    except FileNotFoundError as e:
        print(f"fer-jax eval: {fv.workdir}: {e}", file=sys.stderr)
        return 1
    arrays = {k: result.pop(k) for k in list(result) if isinstance(result[k], np.ndarray)}
    stem = os.path.join(fv.workdir, f"eval_{result['split']}_{result['checkpoint']}")
    if jax.process_index() == 0:
        atomic_write_json(stem + ".json", result)
        if fv.save_arrays:
            with atomic_path(stem + ".npz") as tmp:  # a .npz name: savez adds no suffix
                np.savez(tmp, **arrays)
    print(json.dumps(json_safe({k: v for k, v in result.items() if k != "confusion"}), sort_keys=True))
    return 0
