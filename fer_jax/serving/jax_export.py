"""A trained workdir as one serialized StableHLO artifact (``jax.export``) and its JSON sidecar, and the
artifact loaded back as a function: what ``fer-jax export`` writes without ``--format``
(``fer_jax.commands.export`` is the command line; bundles: ``fer_jax.serving.export_bundle``).

Any method with a serving spec: the exported function takes the spec's inputs, in the spec's order,
each with a symbolic leading batch dimension ``b`` (one artifact serves any batch), and returns the
spec's output (probabilities, values or an embedding) [b, ...]. Weights are baked in as constants: the
artifact needs neither this package's model code nor the checkpoint, only ``jax.export.deserialize``
(:func:`load_exported`). The sidecar (``FILE.json``) records what a caller must feed it and how to read
the result: input names/shapes/dtypes in order, the input group and its preprocessing (size, segments,
GOP, ...), the output kind and names, the method, step and checkpoint.

Both files are written under temporary names and renamed only once both are complete: a failed export
(no checkpoint, a method that cannot be served, an unwritable path) leaves no file behind.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import numpy as np

from fer_jax.serving.export_bundle import ExportError, servable


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
