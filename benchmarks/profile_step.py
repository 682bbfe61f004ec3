"""What bounds the MI-FER train step: per-phase times, HLO op counts and a JAX profiler trace.

``bench_train.py --profile DIR`` calls :func:`profile` per dtype. Phases are jitted and timed apart on the
same state and batch (min of a few waited calls), so their shares can be compared with the whole step:

* ``forward``: the residual encoder + head alone (= the estimator phase's extra forward pass),
* ``estimator_phase`` / ``encoder_phase``: the method's two phases as ``train_step`` runs them,
* ``optimizer``: the encoder's AdamW update (clipping + moments + weights) on given gradients,
* ``step``: the whole step as the trainer compiles it.

HLO op counts come from the optimised HLO of the whole step: convolutions (``convolution`` or cuDNN
custom calls), ``transpose`` and ``copy`` (layout changes), ``reduce`` (GroupNorm statistics are
reductions), fusions, and XLA's own flop / byte estimates. The trace (``DIR/trace``) covers 3 steps
and opens in TensorBoard's or Perfetto's profile viewer.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Callable

import numpy as np


def _best_ms(fn: Callable[[], Any], repeats: int = 10) -> float:
    import jax

    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return round(best * 1e3, 3)


def hlo_counts(text: str) -> dict[str, int]:
    """Op counts of an optimised HLO module's text (all computations, fused ones included)."""
    ops = re.findall(r"=\s*[\w\[\]{},:. ]*?\s([a-z][\w-]*)\(", text)
    count = lambda name: sum(1 for o in ops if o == name)  # noqa: E731
    return {"convolution": count("convolution") + len(re.findall(r'custom_call_target="__cudnn\$conv', text)),
            "transpose": count("transpose"), "copy": count("copy"), "reduce": count("reduce"),
            "fusion": count("fusion"), "custom-call": count("custom-call"), "all_ops": len(ops)}


def profile(config, batch: dict[str, np.ndarray], out_dir: str, tag: str) -> dict[str, Any]:
    """Per-phase ms, HLO op counts and XLA cost of one MI-FER step; trace and HLO text under ``out_dir``."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from fer_jax.core.registry import get_method
    from fer_jax.core.settings import parse
    from fer_jax.methods.mi_fer.method import encoder_phase, estimator_phase

    method = get_method("mi_fer")
    graphdef, state = nnx.split(method.create(parse(config, method), nnx.Rngs(0)))
    dev = jax.device_put(batch)
    step0 = jnp.int32(0)

    def phase(fn):
        def run(state, b):
            module = nnx.merge(graphdef, state)
            out = fn(module, b)
            return nnx.state(module), out
        return jax.jit(run)

    fns = {
        "forward": jax.jit(lambda st, b: nnx.merge(graphdef, st).net(b["residuals"])[0]),
        "estimator_phase": phase(lambda m, b: estimator_phase(m, b, step0)),
        "encoder_phase": phase(lambda m, b: encoder_phase(m, b, step0)),
        "optimizer": phase(lambda m, b: m.encoder_opt.update(
            m.net, jax.tree.map(lambda p: jnp.full_like(p, 1e-3), nnx.state(m.net, nnx.Param)))),
        "step": phase(lambda m, b: method.train_step(m, b, step0)),
    }
    phases = {name: _best_ms(lambda f=f: f(state, dev)) for name, f in fns.items()}
    compiled = fns["step"].lower(state, dev).compile()
    text = compiled.as_text()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"step_{tag}.hlo.txt"), "w") as f:
        f.write(text)
    trace_dir = os.path.join(out_dir, "trace")
    with jax.profiler.trace(trace_dir):
        st = state
        for _ in range(3):
            st, _ = fns["step"](st, dev)
        jax.block_until_ready(st)
    return {"phases_ms": phases,
            "shares_of_step": {k: round(v / phases["step"], 3) for k, v in phases.items() if k != "step"},
            "hlo_ops": hlo_counts(text),
            "xla_cost": {k: float(cost[k]) for k in ("flops", "bytes accessed") if k in cost},
            "trace_dir": trace_dir}
