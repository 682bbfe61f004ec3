"""``fer-jax predict INPUT... --workdir DIR``: a trained method's predictor on raw files -> JSON.

Any method that declares a serving spec (``fer_jax.train.method.ServingSpec``): each file is prepared
as its input group says (``fer_jax.serving.prepare``: compressed-domain extraction for MI-FER, decoded
RGB frames for frame models, one image for still-image models), then the predictor runs on the whole
file and on each part of its timeline (GOPs or frame windows). MI-FER sees only residuals (and motion
vectors if trained with them): no RGB frame and no identity network at test time.

Output: one JSON object per input with the outputs the spec names (``probabilities`` + ``prediction``
for classifiers, ``values`` by name for regressors, ``embedding``), or ``status: failed`` and the reason,
naming the file. Exit 0 when every input was predicted, 1 when some failed, 2 for usage errors (no
workdir config, no checkpoint, a method that cannot be served).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

MAX_ROWS = 64  # rows per model call; a clip's timeline can be long


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax predict", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video or image files, as the method takes")
    p.add_argument("--workdir", required=True, help="a training workdir (config.json + checkpoints)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--out", default="-", help="output JSON file, written atomically (default: stdout)")
    p.add_argument("--segments", type=int, default=None,
                   help="segments (compressed) or frames (frames) per clip (default: the spec's)")
    return p


def describe(row: np.ndarray, kind: str, names: tuple[str, ...]) -> dict[str, Any]:
    """One example's output -> its JSON fields, named as the serving spec says."""
    if kind == "probabilities":
        return {"prediction": names[int(np.argmax(row))],
                "probabilities": {n: round(float(v), 6) for n, v in zip(names, row)}}
    if kind == "values":
        return {"values": {n: round(float(v), 6) for n, v in zip(names, row)}}
    return {"embedding": [round(float(v), 6) for v in np.ravel(row)]}


def run_rows(predict_fn: Callable, batch: dict[str, np.ndarray]) -> np.ndarray:
    """``predict_fn`` over any number of rows: chunks of at most ``MAX_ROWS``, each padded to a power of
    two (repeating row 0) so that clips of every length share a few compiled shapes."""
    n = len(next(iter(batch.values())))
    outs = []
    for i in range(0, n, MAX_ROWS):
        rows = min(MAX_ROWS, n - i)
        pad = 1 << (rows - 1).bit_length()
        idx = np.concatenate([np.arange(i, i + rows), np.full(pad - rows, i)])
        outs.append(predict_fn({k: v[idx] for k, v in batch.items()})[:rows])
    return np.concatenate(outs)


def predict_file(path: str, spec, predict_fn: Callable, names: tuple[str, ...], segments: int | None = None
                 ) -> dict[str, Any]:
    """Preparation + model on one file -> its JSON-able record (``status`` ok). Raises ``InputError``."""
    from fer_jax.serving.prepare import prepare

    t0 = time.perf_counter()
    prep = prepare(path, spec, segments)
    batch = {k: np.concatenate([v[None], prep.windows[k]]) if prep.windows else v[None]
             for k, v in prep.inputs.items()}
    out = run_rows(predict_fn, batch)
    record = {"input": path, "status": "ok", **describe(out[0], spec.output, names), **prep.info}
    if spec.input_group != "image":
        record["timeline"] = [dict(entry, **describe(out[i + 1], spec.output, names))
                              for i, entry in enumerate(prep.timeline)]
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        print(f"fer-jax predict: {args.workdir}: no config.json; is it a training workdir?", file=sys.stderr)
        return 2
    from data_pipelines.atomic import atomic_write
    from fer_jax.inference import ServingError, make_predict_fn, output_info, restore, serving_spec
    from fer_jax.serving.prepare import InputError

    try:
        restored = restore(args.workdir, args.checkpoint)
        spec = serving_spec(restored)
        _, names = output_info(restored)
    except (FileNotFoundError, ServingError) as e:
        print(f"fer-jax predict: {args.workdir}: {e}", file=sys.stderr)
        return 2
    predict_fn = make_predict_fn(restored)
    records, failed = [], 0
    for path in args.inputs:
        try:
            records.append(predict_file(path, spec, predict_fn, names, args.segments))
        except InputError as e:
            failed += 1
            records.append({"input": path, "status": "failed", "error": str(e)})
    out = {"workdir": os.path.abspath(args.workdir), "method": str(restored.config.method),
           "checkpoint": restored.checkpoint, "step": restored.step, "input_group": spec.input_group,
           "output": spec.output, "predictions": records}
    text = json.dumps(out, indent=2) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        try:
            atomic_write(args.out, text)
        except OSError as e:
            print(f"fer-jax predict: cannot write {args.out}: {e}", file=sys.stderr)
            return 1
    return 1 if failed else 0
