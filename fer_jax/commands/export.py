"""``fer-jax export``: a trained workdir for serving or for a collaborator.

``--format stablehlo|onnx|safetensors --out BUNDLE/``: a self-describing bundle (model, config.json,
spec.json, a model card README.md and load_example.py) that runs without fer-jax for ONNX
(onnxruntime) and StableHLO (jax); ``fer_jax/serving/export_bundle.py``, docs/export.md.

Without ``--format`` (``--out FILE``): one serialized StableHLO artifact (``jax.export``, symbolic batch,
weights baked in) and its ``FILE.json`` sidecar; ``fer_jax/serving/jax_export.py`` writes it and loads it
back (``load_exported``). Choice: StableHLO via ``jax.export`` rather than a framework conversion, because it
is JAX's own stable, versioned serialization and runs on CPU, GPU and TPU (``--platforms``).
"""

from __future__ import annotations

import argparse
import os
import sys

from fer_jax.serving.export_bundle import FORMATS, ExportError, export_bundle
from fer_jax.serving.jax_export import export_predictor


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
