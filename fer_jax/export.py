"""``fer-jax export --workdir DIR --out FILE``: the residual-only predictor as a serialized StableHLO.

The exported function maps residuals [B, K, S, S, 3] (float32, /255) and motion vectors
[B, K, S/4, S/4, 2] to class probabilities [B, C]; B is symbolic, so one artifact serves any batch.
Weights are baked in as constants: the artifact needs neither this package's Python model code nor
the training checkpoint, only ``jax.export.deserialize`` (``load_exported`` below). A JSON sidecar
(``FILE.json``) records what a caller must feed it: size, GOP, mode, segments and class names.
Choice: StableHLO via ``jax.export`` rather than a framework conversion, because it is JAX's own
stable, versioned serialization and runs on CPU, GPU and TPU (``--platforms``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

import numpy as np


def export_predictor(workdir: str, out: str, checkpoint: str = "best", platforms: tuple[str, ...] = ("cpu",)) -> dict:
    """Write ``out`` (serialized ``jax.export.Exported``) and ``out + '.json'``; returns the sidecar."""
    import jax

    from fer_jax.inference import probabilities_fn, restore

    restored = restore(workdir, checkpoint)
    icfg = restored.config.input
    size, k = int(icfg.size), int(icfg.get("segments", 3))
    params, probs_fn = probabilities_fn(restored)

    def probs(residuals, motion_vectors):  # params are closed over: baked into the artifact as constants
        return probs_fn(params, residuals, motion_vectors)

    (b,) = jax.export.symbolic_shape("b")
    specs = (jax.ShapeDtypeStruct((b, k, size, size, 3), np.float32),
             jax.ShapeDtypeStruct((b, k, size // 4, size // 4, 2), np.float32))
    exported = jax.export.export(jax.jit(probs), platforms=list(platforms))(*specs)
    sidecar = {"workdir": os.path.abspath(workdir), "step": restored.step, "checkpoint": restored.checkpoint,
               "size": size, "segments": k, "gop": int(icfg.get("gop", 12)), "mode": icfg.get("mode", "accumulate"),
               "class_names": list(restored.config.get("class_names") or []), "platforms": list(platforms),
               "inputs": {"residuals": ["b", k, size, size, 3], "motion_vectors": ["b", k, size // 4, size // 4, 2]}}
    for path, data in ((out, bytes(exported.serialize())), (out + ".json", json.dumps(sidecar, indent=2).encode())):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return sidecar


def load_exported(path: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The exported predictor as ``(residuals, motion_vectors) -> probabilities``."""
    import jax

    with open(path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    return lambda residuals, motion_vectors: np.asarray(exported.call(residuals, motion_vectors))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fer-jax export", description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True, help="output file (a .json sidecar is written beside it)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--platforms", default="cpu", help="comma-separated subset of cpu,cuda,tpu")
    args = p.parse_args(argv)
    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        print(f"fer-jax export: {args.workdir}: no config.json; is it a training workdir?", file=sys.stderr)
        return 2
    sidecar = export_predictor(args.workdir, args.out, args.checkpoint, tuple(args.platforms.split(",")))
    print(f"exported step {sidecar['step']} ({sidecar['checkpoint']}) to {args.out}")
    return 0
