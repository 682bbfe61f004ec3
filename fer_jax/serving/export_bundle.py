"""A trained workdir as a bundle a collaborator can run without fer-jax: ``fer-jax export --format F --out DIR``.

``DIR/`` holds the model in one of three formats, ``config.json`` (the run's), ``spec.json`` (inputs in
order with shapes and dtypes, the input group and its preprocessing, the output kind and names, the
export-time parity check), ``README.md`` (a model card: data, protocol, evaluation numbers, identity
audit, how it was trained) and ``load_example.py`` (runs the model on the spec's inputs):

* ``stablehlo`` -> ``model.stablehlo``: ``jax.export`` with a symbolic batch ``b`` and the weights baked in;
  needs only ``jax`` (``jax.export.deserialize``), runs on the exported ``--platforms``.
* ``onnx`` -> ``model.onnx``: the same function converted by ``jax2onnx`` (batch dimension ``b``); needs
  only ``onnxruntime`` and numpy.
* ``safetensors`` -> ``params.safetensors``: the predictor's variables (``/``-joined paths); the graph is
  the method's code, so running it needs fer-jax (:func:`load_bundle`).

Every format goes through the framework's generic serving (``method.predictor`` / ``serving_spec`` /
``serve``), so any served method exports. Each export is checked before it is kept: the exported model
on a random batch of 2 must equal the in-framework predictor (``TOLERANCE``). The bundle is written to a
hidden folder beside ``DIR`` and renamed at the end; on any error nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from fer_jax.serving.export_card import loader_example, model_card

FORMATS = ("stablehlo", "onnx", "safetensors")
MODEL_FILE = {"stablehlo": "model.stablehlo", "onnx": "model.onnx", "safetensors": "params.safetensors"}
TOLERANCE = 1e-4  # max |exported - live| on the export-time check (probabilities / values / embeddings)


class ExportError(RuntimeError):
    """An export that cannot be made; the message names the workdir or path and the reason. ``status``:
    the exit status (2: the workdir cannot be served or the request is wrong; 1: the export failed or
    the output cannot be written)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def servable(workdir: str, checkpoint: str = "best") -> tuple[Any, Any, tuple, Any, Callable]:
    """(restored, serving spec, (output shape, output names), params, ``fn(*inputs)``) of a workdir, the
    params closed over in ``fn`` (constants of an exported graph); :class:`ExportError` (exit 2) when the
    workdir has no checkpoint or its method cannot be served."""
    from fer_jax.serving.predictor import ServingError, make_serve_fn, output_info, restore, serving_spec

    try:
        restored = restore(workdir, checkpoint)
        spec = serving_spec(restored)
        outputs = output_info(restored)
    except (FileNotFoundError, ServingError) as e:
        raise ExportError(f"{workdir}: {e}", 2) from e
    params, serve = make_serve_fn(restored)
    names = list(spec.inputs)

    def fn(*xs):
        return serve(params, dict(zip(names, xs)))

    return restored, spec, outputs, params, fn


def export_bundle(workdir: str, out: str, fmt: str, checkpoint: str = "best",
                  platforms: tuple[str, ...] = ("cpu",)) -> dict[str, Any]:
    """Write the bundle ``out/`` (see the module docstring); returns ``spec.json``'s content."""
    from fer_jax.serving.predictor import make_predict_fn

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", 2)
    _check_out(out)
    restored, spec, (out_shape, out_names), params, fn = servable(workdir, checkpoint)

    if fmt == "stablehlo":
        payload, run = _stablehlo(fn, spec, platforms)
    elif fmt == "onnx":
        payload, run = _onnx(fn, spec)
    else:
        payload, run, skipped = _safetensors(params), None, _non_numeric(params)
    check = _parity(run or _rebuilt_predictor(restored, payload), make_predict_fn(restored), spec)
    meta = {"format": fmt, "model_file": MODEL_FILE[fmt], "method": str(restored.config.method),
            "workdir": os.path.abspath(workdir), "step": restored.step, "checkpoint": restored.checkpoint,
            "input_group": spec.input_group, "preprocessing": dict(spec.preprocessing),
            "inputs": [{"name": n, "shape": ["b", *map(int, f.shape)], "dtype": str(np.dtype(f.dtype))}
                       for n, f in spec.inputs.items()],
            "output": {"kind": spec.output, "shape": ["b", *out_shape], "names": list(out_names)},
            "check": check, "versions": _versions(fmt)}
    if fmt == "stablehlo":
        meta["platforms"] = list(platforms)
    if fmt == "onnx":
        meta["onnx"] = {"opset": OPSET, "input_names": list(spec.inputs), "output_name": "output"}
    if fmt == "safetensors" and skipped:
        meta["not_saved"] = skipped
    files = {MODEL_FILE[fmt]: payload,
             "config.json": restored.config.to_json_best_effort(indent=1, sort_keys=True) + "\n",
             "spec.json": json.dumps(meta, indent=2) + "\n",
             "README.md": model_card(workdir, restored.config, meta),
             "load_example.py": loader_example(fmt)}
    _write_bundle(out, files)
    return meta


# -- formats ---------------------------------------------------------------------------------------------

def _shapes(spec, batch: Any) -> list[jax.ShapeDtypeStruct]:
    return [jax.ShapeDtypeStruct((batch,) + tuple(f.shape), np.dtype(f.dtype)) for f in spec.inputs.values()]


def _stablehlo(fn: Callable, spec, platforms: tuple[str, ...]) -> tuple[bytes, Callable]:
    (b,) = jax.export.symbolic_shape("b")
    try:
        exported = jax.export.export(jax.jit(fn), platforms=list(platforms))(*_shapes(spec, b))
    except ValueError as e:  # e.g. an unknown platform name
        raise ExportError(f"jax.export failed: {e}", 2) from e
    payload = bytes(exported.serialize())
    restored = jax.export.deserialize(bytearray(payload))
    return payload, (lambda *xs: restored.call(*xs)) if "cpu" in platforms else None


OPSET = 21  # onnxruntime >= 1.20 runs it; jax2onnx's default (23) needs a very recent runtime


def _onnx(fn: Callable, spec) -> tuple[bytes, Callable]:
    """``fn`` -> ONNX via jax2onnx, from the jaxpr traced here (see ``_onnx_friendly_pooling``)."""
    import jax.extend.core as jex
    from jax2onnx import to_onnx

    (b,) = jax.export.symbolic_shape("b")
    with _onnx_friendly_pooling():
        closed = jax.make_jaxpr(fn)(*_shapes(spec, b))
    names = list(spec.inputs)
    with _quiet("jax2onnx", "onnx_ir"):
        model = to_onnx(jex.jaxpr_as_fun(closed), _shapes(spec, b), model_name="fer_jax", opset=OPSET,
                        input_names=names, output_names=["output"], return_mode="proto")
    payload = model.SerializeToString()
    import onnxruntime as ort

    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    return payload, lambda *xs: session.run(None, dict(zip(names, xs)))[0]


@contextlib.contextmanager
def _onnx_friendly_pooling():
    """Trace ``nnx.max_pool`` as a 3-D window over ``[N*C, H, W]`` instead of a 4-D one over NHWC.

    Why: jax2onnx (0.13) lowers ``reduce_window_max`` to an ONNX MaxPool whose kernel has the window's
    rank, and onnxruntime's MaxPool takes at most 3 spatial dims; its own ``nnx.max_pool`` shim does not
    accept the window positionally (as ``fer_jax.models`` call it). The rewrite is exact (max over the
    same windows); the export-time parity check confirms it.
    """
    from flax import nnx

    original = nnx.max_pool

    def max_pool(x, window_shape, strides=None, padding="VALID"):
        if x.ndim != 4:
            return original(x, window_shape, strides, padding)
        strides = tuple(strides or (1,) * len(window_shape))
        n, h, w, c = x.shape
        pads = jax.lax.padtype_to_pads((h, w), window_shape, strides, padding) if isinstance(padding, str) else padding
        y = jnp.transpose(x, (0, 3, 1, 2)).reshape((n * c, h, w))
        y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, *window_shape), (1, *strides), ((0, 0), *pads))
        return jnp.transpose(y.reshape((n, c) + y.shape[1:]), (0, 2, 3, 1))

    nnx.max_pool = max_pool
    try:
        yield
    finally:
        nnx.max_pool = original


@contextlib.contextmanager
def _quiet(*loggers: str):
    """jax2onnx logs a traceback per optional plugin it cannot import (dm_pix, equinox); not ours to show."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for lg, _ in saved:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in saved:
            lg.setLevel(level)


def _flat(params) -> dict[str, Any]:
    from flax import nnx

    leaves = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(params))[0]
    return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): v for path, v in leaves}


def _numeric(v: Any) -> bool:
    return hasattr(v, "dtype") and not jax.dtypes.issubdtype(v.dtype, jax.dtypes.extended)


def _non_numeric(params) -> list[str]:
    return sorted(k for k, v in _flat(params).items() if not _numeric(v))


def _safetensors(params) -> bytes:
    from safetensors.numpy import save

    return save({k: np.asarray(v) for k, v in _flat(params).items() if _numeric(v)})


def _rebuilt_predictor(restored, payload: bytes) -> Callable:
    """The predictor rebuilt from the safetensors bytes alone (what :func:`load_bundle` does)."""
    from safetensors.numpy import load

    predict = _predictor_from_params(restored.config, load(payload))
    return lambda *xs: predict(*xs)


def _parity(run: Callable | None, live: Callable, spec) -> dict[str, Any]:
    """The exported model vs the in-framework predictor on one random batch of 2 (fails the export if off)."""
    if run is None:
        return {"skipped": "not exported for cpu"}
    rng = np.random.default_rng(0)
    xs = {n: (rng.normal(size=(2,) + tuple(f.shape)) if np.dtype(f.dtype).kind == "f"
              else rng.integers(0, 2, size=(2,) + tuple(f.shape))).astype(f.dtype) for n, f in spec.inputs.items()}
    want = live(xs)
    try:
        got = np.asarray(run(*xs.values()))
    except Exception as e:  # noqa: BLE001 - any runtime failure of the exported model fails the export
        raise ExportError(f"the exported model does not run: {type(e).__name__}: {e}", 1) from e
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not diff <= TOLERANCE:
        raise ExportError(f"the exported model differs from the predictor by {diff:.3g} (> {TOLERANCE}) "
                          f"on a random batch of 2, output shape {got.shape} vs {want.shape}", 1)
    return {"batch": 2, "max_abs_diff": diff, "tolerance": TOLERANCE}


def _versions(fmt: str) -> dict[str, str]:
    from importlib import metadata

    names = {"stablehlo": ("jax", "jaxlib"), "onnx": ("jax", "jax2onnx", "onnx"),
             "safetensors": ("jax", "flax", "safetensors")}[fmt]
    return {n: metadata.version(n) for n in ("fer-jax", *names)}


# -- output folder ---------------------------------------------------------------------------------------

def _check_out(out: str) -> None:
    """Refuse an existing non-empty folder or a file (never overwrite a bundle) before any work."""
    if os.path.isdir(out) and os.listdir(out) or os.path.lexists(out) and not os.path.isdir(out):
        raise ExportError(f"cannot write {out}: it exists (an export never overwrites; remove it or choose "
                          "another --out)", 1)


def _write_bundle(out: str, files: dict[str, bytes | str]) -> None:
    """``files`` into a hidden temporary folder beside ``out``, renamed to ``out`` once all are written."""
    out = os.path.abspath(out)
    parent, created = os.path.dirname(out), []
    tmp = None
    try:
        for d in _missing_parents(parent):
            os.mkdir(d)
            created.append(d)
        _check_out(out)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the bundle from collaborators
        for name, content in files.items():
            with open(os.path.join(tmp, name), "wb" if isinstance(content, bytes) else "w") as f:
                f.write(content)
        if os.path.isdir(out):
            os.rmdir(out)  # empty (checked): a folder the caller made for the bundle
        os.rename(tmp, out)
    except OSError as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for d in reversed(created):
            shutil.rmtree(d, ignore_errors=True)
        raise ExportError(f"cannot write {out}: {e}", 1) from e


def _missing_parents(path: str) -> list[str]:
    missing = []
    while path and not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return list(reversed(missing))


# -- loading with fer-jax --------------------------------------------------------------------------------

def _predictor_from_params(config, tensors: dict[str, np.ndarray]) -> Callable:
    """The method's predictor built from ``config`` with its variables replaced by ``tensors``; jitted."""
    from flax import nnx

    from fer_jax.core.registry import resolve_method
    from fer_jax.core.settings import parse

    method = resolve_method(config.method)
    run = parse(config, method)
    graphdef, params = nnx.split(method.predictor(method.create(run, nnx.Rngs(run.train.seed))))
    flat = _flat(params)
    missing = sorted(k for k, v in flat.items() if _numeric(v) and k not in tensors)
    if missing:
        raise ExportError(f"the parameters lack {missing[:5]}{' ...' if len(missing) > 5 else ''}", 2)
    for k, v in flat.items():
        if _numeric(v) and tuple(tensors[k].shape) != tuple(v.shape):
            raise ExportError(f"parameter {k}: shape {tensors[k].shape}, the model has {tuple(v.shape)}", 2)
    pure = nnx.to_pure_dict(params)
    pure = jax.tree_util.tree_map_with_path(
        lambda p, v: jnp.asarray(tensors[k]) if (k := "/".join(str(getattr(x, "key", getattr(x, "idx", x)))
                                                                for x in p)) in tensors else v, pure)
    nnx.replace_by_pure_dict(params, pure)
    names = tuple(method.serving_spec(run).inputs)
    jitted = jax.jit(lambda params, *xs: method.serve(nnx.merge(graphdef, params), dict(zip(names, xs))))
    return lambda *xs: np.asarray(jitted(params, *xs))


def load_bundle(bundle: str) -> Callable[..., np.ndarray]:
    """Any bundle as ``f(**inputs)`` / ``f(*inputs)`` (spec order), with fer-jax installed.

    ``safetensors`` needs fer-jax (the graph is the method's code); the other two formats are also
    runnable without it, as their ``load_example.py`` shows.
    """
    with open(os.path.join(bundle, "spec.json")) as f:
        spec = json.load(f)
    names = [i["name"] for i in spec["inputs"]]
    path = os.path.join(bundle, spec["model_file"])
    if spec["format"] == "stablehlo":
        with open(path, "rb") as f:
            exported = jax.export.deserialize(bytearray(f.read()))
        run = exported.call
    elif spec["format"] == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        run = lambda *xs: session.run(None, dict(zip(names, xs)))[0]  # noqa: E731
    else:
        import ml_collections
        from safetensors.numpy import load_file

        with open(os.path.join(bundle, "config.json")) as f:
            config = ml_collections.ConfigDict(json.load(f))
        run = _predictor_from_params(config, load_file(path))

    def call(*args: np.ndarray, **kwargs: np.ndarray) -> np.ndarray:
        if kwargs:
            if args or set(kwargs) != set(names):
                raise TypeError(f"{bundle}: takes {names} by name, got {sorted(kwargs)} (+{len(args)} positional)")
            args = tuple(kwargs[n] for n in names)
        if len(args) != len(names):
            raise TypeError(f"{bundle}: takes {len(names)} inputs {names}, got {len(args)}")
        return np.asarray(run(*(np.asarray(a, i["dtype"]) for a, i in zip(args, spec["inputs"]))))

    return call
