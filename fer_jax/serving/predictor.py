"""A trained workdir as a serving function: the method's predictor, fed and read as its ``ServingSpec`` says.

Shared by ``fer-jax predict``, ``fer-jax export`` and the inference benchmark, for every method: the
predictor is ``method.predictor(state)`` (e.g. MI-FER's residual-only classifier), split once into a
graph and its arrays, and ``method.serve`` maps a dict of batched inputs (``spec.inputs``) to the outputs
the spec names. Only numpy and JAX here; raw files become inputs in ``fer_jax.serving.prepare``
(re-exported below: ``clip_inputs``, ``gop_inputs``).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from flax import nnx

from fer_jax.core.method import ServingSpec
from fer_jax.core.workdir import Restored, restore  # noqa: F401  (restore: used by predict and export)
from fer_jax.serving.prepare import P_FRAME, check_spec, clip_inputs, gop_inputs  # noqa: F401


class ServingError(RuntimeError):
    """A restored workdir that cannot be served: its method declares no serving spec, or a bad one."""


def serving_spec(restored: Restored) -> ServingSpec:
    """The method's :class:`ServingSpec` for the run's parsed config, checked against its input group."""
    try:
        spec = restored.method.serving_spec(restored.run)
    except NotImplementedError as e:
        raise ServingError(str(e)) from e
    try:
        check_spec(spec)
    except ValueError as e:
        raise ServingError(f"method {restored.config.method!r}: {e}") from e
    return spec


def make_serve_fn(restored: Restored) -> tuple[Any, Callable[[Any, dict[str, jax.Array]], jax.Array]]:
    """``(params, f)`` with ``f(params, inputs) -> outputs``: ``method.serve`` on the merged predictor.

    ``inputs`` is a dict of batched arrays keyed as ``spec.inputs`` (other keys are ignored). Params are
    an argument so ``make_predict_fn`` can jit ``f`` once and ``export`` can bake them in as constants.
    """
    spec = serving_spec(restored)
    method = restored.method
    graphdef, params = nnx.split(method.predictor(restored.state))
    names = tuple(spec.inputs)

    def serve(params, inputs):
        return method.serve(nnx.merge(graphdef, params), {k: inputs[k] for k in names})

    return params, serve


def make_predict_fn(restored: Restored) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A jitted ``{name: [B, ...]} -> outputs [B, ...]`` (numpy) of the method's predictor.

    Inputs are cast to the spec's dtypes; a missing one is a ``KeyError`` naming what the spec takes.
    """
    spec = serving_spec(restored)
    params, serve = make_serve_fn(restored)
    jitted = jax.jit(serve)

    def predict(inputs: dict[str, np.ndarray]) -> np.ndarray:
        missing = [k for k in spec.inputs if k not in inputs]
        if missing:
            raise KeyError(f"inputs lack {missing}; the serving spec takes {list(spec.inputs)}")
        return np.asarray(jitted(params, {k: np.asarray(inputs[k], f.dtype) for k, f in spec.inputs.items()}))

    return predict


def output_info(restored: Restored) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Per-example output shape and the names of its entries (``spec.output_names``, else the config's
    ``class_names`` / ``target_names``, else ``"0", "1", ...``; none for embeddings), checked to agree."""
    spec = serving_spec(restored)
    params, serve = make_serve_fn(restored)
    x = {k: jax.ShapeDtypeStruct((1,) + tuple(f.shape), np.dtype(f.dtype)) for k, f in spec.inputs.items()}
    shape = tuple(jax.eval_shape(serve, params, x).shape[1:])
    if spec.output == "embedding":
        return shape, ()
    names = tuple(map(str, spec.output_names))
    if not names:
        key = "class_names" if spec.output == "probabilities" else "target_names"
        names = tuple(map(str, getattr(restored.run.train, key)))
    if len(shape) != 1:
        raise ServingError(f"method {restored.config.method!r}: {spec.output} output must be [B, N], got [B, *{shape}]")
    if names and len(names) != shape[0]:
        raise ServingError(f"method {restored.config.method!r}: {len(names)} output names {names} for "
                           f"{shape[0]} {spec.output}")
    return shape, names or tuple(str(i) for i in range(shape[0]))
