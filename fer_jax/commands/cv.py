"""``fer-jax cv --config=configs/<...>.py:<variant> --folds=K --workdir=W [--checkpoint=latest|best]``.

Trains every fold of a k-fold protocol with the shared trainer and tabulates its test sides. Fold k
runs the config with ``fold=k`` in its variant (appended, or replacing a ``fold`` / ``fold=J`` word:
``ckplus.py:tiny`` -> ``ckplus.py:tiny,fold=k``) in ``W/fold_<k>/``, then evaluates the config's
``input.split_val`` after ``fold=k`` (``test@fold<k>``) with the evaluators the config gives that
split, and writes ``W/fold_<k>/cv_eval.json``. At the end ``W/cv.json`` and ``W/cv.md`` hold a row per
fold and the mean ± sd (``fer_jax/evaluate/tables.py``). Config overrides (``--config.x.y=v``) apply to
every fold.

Resuming: a fold with ``cv_eval.json`` is finished and neither retrained nor re-evaluated (delete the
file to redo it); an unfinished fold resumes its training from its latest checkpoint.

``--checkpoint`` defaults to ``latest``: in these protocols the validation split IS the fold's test
side, so the ``best`` checkpoint would be chosen on the test data (the trainer refuses such a
``best_metric``: ``fer_jax/train/config_check.py``; the shipped fold configs set none). ``best`` is for
a config whose ``best_metric`` reads a validation split carved from the fold's training side.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import ml_collections
from absl import flags
from ml_collections import config_flags

from fer_jax.commands.train import define_distributed_flags, parse, start

log = logging.getLogger(__name__)


def _define_flags(fv: flags.FlagValues, argv: list[str]) -> None:
    config_flags.DEFINE_config_file("config", None, "config file with a variant, e.g. configs/mi_fer/ckplus.py:tiny",
                                    lock_config=True, flag_values=fv, sys_argv=argv)
    flags.DEFINE_string("workdir", None, "directory of the folds (fold_<k>/), cv.json and cv.md", flag_values=fv)
    flags.DEFINE_integer("folds", None, "number of folds K (folds 0..K-1)", flag_values=fv)
    flags.DEFINE_bool("allow_config_change", False, "resume folds whose config.json differs in keys other than "
                      "how long and how often (recorded in each fold's config_changes.jsonl)", flag_values=fv)
    flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "checkpoint evaluated on each fold's test side",
                      flag_values=fv)
    define_distributed_flags(fv)


def with_fold(config_value: str, fold: int) -> str:
    """``path[:variant]`` with ``fold=<fold>`` in the variant (replacing ``fold`` / ``fold=J``)."""
    path, _, arg = config_value.partition(":")
    words = [w.strip() for w in arg.split(",") if w.strip()]
    new = f"fold={fold}"
    if any(w == "fold" or w.startswith("fold=") for w in words):
        words = [new if (w == "fold" or w.startswith("fold=")) else w for w in words]
    else:
        words.append(new)
    return f"{path}:{','.join(words)}"


def config_value(argv: list[str]) -> str | None:
    """The value of ``--config=V`` / ``--config V`` in ``argv`` (None when absent)."""
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            return a[len("--config="):]
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def argv_for_fold(argv: list[str], fold: int) -> list[str]:
    """``argv`` with its ``--config=`` (or ``--config VALUE``) value rewritten by :func:`with_fold`."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--config="):
            out.append("--config=" + with_fold(a[len("--config="):], fold))
        elif a == "--config" and i + 1 < len(argv):
            out.append("--config=" + with_fold(argv[i + 1], fold))
            i += 1
        else:
            out.append(a)
        i += 1
    return out


def run_fold(config: ml_collections.ConfigDict, fold_dir: str, fold: int, checkpoint: str, *,
             allow_config_change: bool = False) -> dict[str, Any]:
    """Train (or resume) one fold, evaluate its test side; its table row (read back if finished).
    ``allow_config_change``: as ``fer-jax train``'s flag."""
    import jax
    import numpy as np

    from data_pipelines.atomic import atomic_write_json
    from fer_jax.evaluate import runner, tables
    from fer_jax.train.trainer import train

    done = os.path.join(fold_dir, "cv_eval.json")
    if os.path.exists(done):
        log.info("fold %d: finished (%s), not retrained", fold, done)
        with open(done) as f:
            return json.load(f)["row"]
    split = config.input.get("split_val")
    if not split:
        raise ValueError(f"fold {fold}: the config has no input.split_val to evaluate")
    train(config, fold_dir, allow_config_change=allow_config_change)
    result = runner.evaluate_splits(config, fold_dir, (split,), checkpoint)[split]
    report = {k: v for k, v in result.items() if not isinstance(v, np.ndarray)}
    row = tables.fold_row(fold, report, step=report["step"], split=split, checkpoint=report["checkpoint"])
    if jax.process_index() == 0:
        atomic_write_json(done, {"row": row, "report": report})
    return row


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "--helpfull") for a in argv):
        print(__doc__)
        return 0
    given = config_value(argv)
    if given is None:
        print("fer-jax cv: --config, --folds and --workdir are required", file=sys.stderr)
        return 2
    fv = parse(argv_for_fold(argv, 0), "fer-jax cv", _define_flags)
    if fv is None:
        return 2
    if fv.config is None or not fv.workdir or not fv.folds or fv.folds < 1:
        print("fer-jax cv: --config, --folds (>= 1) and --workdir are required", file=sys.stderr)
        return 2
    if not start(fv, "fer-jax cv"):
        return 2
    import jax

    from fer_jax.core.workdir import ConfigChangeError
    from fer_jax.evaluate import tables
    from fer_jax.train.trainer import NonFiniteLossError

    workdir, k, checkpoint = os.path.abspath(fv.workdir), int(fv.folds), fv.checkpoint
    rows = []
    for fold in range(k):
        fold_fv = fv if fold == 0 else parse(argv_for_fold(argv, fold), "fer-jax cv", _define_flags)
        if fold_fv is None:
            return 2
        try:
            rows.append(run_fold(fold_fv.config, os.path.join(workdir, f"fold_{fold}"), fold, checkpoint,
                                 allow_config_change=fv.allow_config_change))
        except NonFiniteLossError as e:
            print(f"fer-jax cv: fold {fold}: {e}", file=sys.stderr)
            return 1
        except ConfigChangeError as e:
            print(f"fer-jax cv: fold {fold}: {e}", file=sys.stderr)
            return 2
    if jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        out = tables.write(workdir, rows, config=given, folds=k, checkpoint=checkpoint,
                           title=f"Cross-validation ({k} folds): {given}")
        print(json.dumps({"cv": os.path.join(workdir, "cv.md"), "mean": out["mean"]}, sort_keys=True))
    return 0
