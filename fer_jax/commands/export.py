"""``fer-jax export``: a trained workdir for serving or for a collaborator.

``--format stablehlo|onnx|safetensors --out BUNDLE/``: a self-describing bundle (model, config.json,
spec.json, a model card README.md and load_example.py) that runs without fer-jax for ONNX
(onnxruntime) and StableHLO (jax); ``fer_jax/serving/export_bundle.py``, docs/export.md.

Without ``--format`` (``--out FILE``): the single serialized StableHLO artifact described below.

Any method with a serving spec: the exported function takes the spec's inputs, in the spec's order,
each with a symbolic leading batch dimension ``b`` (one artifact serves any batch), and returns the
spec's output (probabilities, values or an embedding) [b, ...]. Weights are baked in as constants: the
artifact needs neither this package's model code nor the checkpoint, only ``jax.export.deserialize``
(``load_exported`` below). A JSON sidecar (``FILE.json``) records what a caller must feed it and how
to read the result: input names/shapes/dtypes in order, the input group and its preprocessing (size,
segments, GOP, ...), the output kind and names, the method, step and checkpoint.
Choice: StableHLO via ``jax.export`` rather than a framework conversion, because it is JAX's own
stable, versioned serialization and runs on CPU, GPU and TPU (``--platforms``).

Both files are written under temporary names and renamed only once both are complete: a failed export
(no checkpoint, a method that cannot be served, an unwritable path) leaves no file behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

import numpy as np

from fer_jax.serving.export_bundle import FORMATS, ExportError, export_bundle, servable


def export_predictor(workdir: str, out: str, checkpoint: str = "best", platforms: tuple[str, ...] = ("cpu",)
                     ) -> dict[str, Any]:
    """Write ``out`` (serialized ``jax.export.Exported``) and ``out + '.json'``; returns the sidecar.

    Raises :class:`ExportError` (no config or checkpoint, no serving spec, unwritable ``out``).
    """
    import jax

    from data_pipelines.atomic import atomic_path
    restored, spec, (out_shape, out_names), _, fn = servable(workdir, checkpoint)  # params baked in as constants

    (b,) = jax.export.symbolic_shape("b")
    shapes = [jax.ShapeDtypeStruct((b,) + tuple(f.shape), np.dtype(f.dtype)) for f in spec.inputs.values()]
    exported = jax.export.export(jax.jit(fn), platforms=list(platforms))(*shapes)
    sidecar = {"format": "jax.export", "method": str(restored.config.method), "workdir": os.path.abspath(workdir),
               "step": restored.step, "checkpoint": restored.checkpoint, "platforms": list(platforms),
               "input_group": spec.input_group, "preprocessing": dict(spec.preprocessing),
               "inputs": [{"name": n, "shape": ["b", *map(int, f.shape)], "dtype": str(np.dtype(f.dtype))}
                          for n, f in spec.inputs.items()],
               "output": {"kind": spec.output, "shape": ["b", *out_shape], "names": list(out_names)}}
    placed = False  # the artifact is renamed first; if the sidecar's rename then fails, it goes again
    try:
        with atomic_path(out + ".json") as tmp_json:
            with open(tmp_json, "w") as f:
                f.write(json.dumps(sidecar, indent=2) + "\n")
            with atomic_path(out) as tmp, open(tmp, "wb") as f:
                f.write(bytes(exported.serialize()))
            placed = True
    except OSError as e:
        if placed and os.path.isfile(out):
            os.remove(out)
        raise ExportError(f"cannot write {out}: {e}", 1) from e
    return sidecar


def load_exported(path: str) -> Callable[..., np.ndarray]:
    """The exported predictor as ``f(*inputs)`` (the sidecar's order) or ``f(**inputs)`` (by name).

    Keyword calls need the sidecar (``path + '.json'``); positional calls work without it.
    """
    import jax

    with open(path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    names = None
    if os.path.isfile(path + ".json"):
        with open(path + ".json") as f:
            names = [i["name"] for i in json.load(f)["inputs"]]

    def call(*args: np.ndarray, **kwargs: np.ndarray) -> np.ndarray:
        if kwargs:
            if names is None:
                raise TypeError(f"{path}: no sidecar {path}.json, so inputs must be positional")
            if args or set(kwargs) != set(names):
                raise TypeError(f"{path}: takes {names} by name, got {sorted(kwargs)} (+{len(args)} positional)")
            args = tuple(kwargs[n] for n in names)
        if len(args) != len(exported.in_avals):
            raise TypeError(f"{path}: takes {len(exported.in_avals)} inputs ({names or 'no sidecar'}), "
                            f"got {len(args)}")
        return np.asarray(exported.call(*(np.asarray(a, v.dtype) for a, v in zip(args, exported.in_avals))))

    return call


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fer-jax export", description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True, help="the bundle folder with --format; else an artifact file "
                   "(a .json sidecar is written beside it)")
    p.add_argument("--format", help=f"write a bundle: one of {', '.join(FORMATS)}")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--platforms", default="cpu", help="comma-separated subset of cpu,cuda,tpu")
    args = p.parse_args(argv)
    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        print(f"fer-jax export: {args.workdir}: no config.json; is it a training workdir?", file=sys.stderr)
        return 2
    if args.format is not None and args.format not in FORMATS:  # before any work: nothing to clean up
        print(f"fer-jax export: unknown format {args.format!r}; choose one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    platforms = tuple(args.platforms.split(","))
    try:
        if args.format:
            sidecar = export_bundle(args.workdir, args.out, args.format, args.checkpoint, platforms)
        else:
            sidecar = export_predictor(args.workdir, args.out, args.checkpoint, platforms)
    except ExportError as e:
        print(f"fer-jax export: {e}", file=sys.stderr)
        return e.status
    what = f"the {args.format} bundle" if args.format else "a StableHLO artifact"
    print(f"exported {sidecar['method']} step {sidecar['step']} ({sidecar['checkpoint']}) as {what} to {args.out}")
    return 0
